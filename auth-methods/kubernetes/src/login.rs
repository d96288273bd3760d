//! `login` and token renewal: turns a verified service-account identity into an
//! [`AuthGrant`] carrying the role's policies and token settings.
//!
//! Every refusal is logged here, once, with the precise reason; the client only ever sees
//! "permission denied". Neither the log nor any error carries the JWT.

use std::collections::BTreeMap;

use lessor_sdk::{AuthGrant, AuthRenewal, EngineContext, Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::claims::{Claims, Identity};
use crate::config::ValidationMode;
use crate::error::KubeAuthError;
use crate::fields::{check_role_name, matches_any};
use crate::in_cluster::InCluster;
use crate::local;
use crate::mount_state::{MountState, MountStates};
use crate::role::{self, AliasNameSource, Role};
use crate::secret::SecretText;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[serde(default)]
    role: String,
    #[serde(default)]
    jwt: SecretText,
}

/// What the token store keeps for renewal (encrypted, never shown to clients).
#[derive(Debug, Deserialize)]
struct Internal {
    role: String,
}

pub(crate) async fn login(
    states: &MountStates,
    in_cluster: &InCluster,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KubeAuthError> {
    let body: LoginRequest = request
        .decode()
        .map_err(|error| KubeAuthError::invalid(error.to_string()))?;
    if body.role.is_empty() {
        return Err(KubeAuthError::invalid("missing role"));
    }
    if body.jwt.trim().is_empty() {
        return Err(KubeAuthError::invalid("missing jwt"));
    }
    check_role_name(&body.role).map_err(KubeAuthError::Invalid)?;
    let role = role::load(ctx, &body.role)
        .await?
        .ok_or_else(|| KubeAuthError::invalid(format!("invalid role name {:?}", body.role)))?;

    let outcome = authenticate(states, in_cluster, ctx, &role, body.jwt.trim()).await;
    let identity = match outcome {
        Ok(identity) => identity,
        Err(KubeAuthError::Denied(reason)) => {
            tracing::warn!(mount = %ctx.mount_path, role = %body.role, %reason, "kubernetes login denied");
            return Err(KubeAuthError::Denied(reason));
        }
        Err(error) => {
            tracing::error!(mount = %ctx.mount_path, role = %body.role, %error, "kubernetes login failed");
            return Err(error);
        }
    };
    let grant = grant(&body.role, &role, &identity).inspect_err(|error| {
        tracing::warn!(mount = %ctx.mount_path, role = %body.role, %error, "kubernetes login denied");
    })?;
    tracing::info!(
        mount = %ctx.mount_path,
        role = %body.role,
        namespace = %identity.namespace,
        service_account = %identity.name,
        "kubernetes login"
    );
    Ok(Response {
        auth: Some(grant),
        ..Response::default()
    })
}

/// Establishes who the token belongs to, by the configured mode, and checks the role binds
/// them.
async fn authenticate(
    states: &MountStates,
    in_cluster: &InCluster,
    ctx: &EngineContext,
    role: &Role,
    jwt: &str,
) -> Result<Identity, KubeAuthError> {
    let state = states.get(ctx, in_cluster).await?;
    let now = ctx.clock.now();
    let identity = match state.config.validation {
        ValidationMode::Local => local::verify(&state, role, jwt, now).await?,
        ValidationMode::TokenReview => token_review(&state, role, jwt, now).await?,
    };
    check_bindings(role, &identity)?;
    Ok(identity)
}

async fn token_review(
    state: &MountState,
    role: &Role,
    jwt: &str,
    now: time::OffsetDateTime,
) -> Result<Identity, KubeAuthError> {
    let reviewer = state.reviewer.as_ref().ok_or_else(|| {
        KubeAuthError::invalid(
            "the kubernetes auth method is not configured: set kubernetes_host (no in-cluster \
             API server was found)",
        )
    })?;
    // Unverified claims, used to turn away tokens that could never pass before spending an
    // API-server round trip on them; the verdict below is what counts.
    let claims = Claims::peek(jwt).map_err(KubeAuthError::Denied)?;
    let claimed = claims.identity().map_err(KubeAuthError::Denied)?;
    if let Some(issuer) = state.config.expected_issuer()
        && claims.iss.as_deref() != Some(issuer)
    {
        return Err(KubeAuthError::denied(format!(
            "the token's issuer {:?} is not the configured {issuer:?}",
            claims.iss.as_deref().unwrap_or("")
        )));
    }
    check_bindings(role, &claimed)?;

    let reviewed = reviewer.review(jwt, role.audience(), now).await?;
    if reviewed.namespace != claimed.namespace || reviewed.name != claimed.name {
        return Err(KubeAuthError::denied(format!(
            "the API server says the token belongs to {}/{}, its claims say {}/{}",
            reviewed.namespace, reviewed.name, claimed.namespace, claimed.name
        )));
    }
    if !reviewed.uid.is_empty() && !claimed.uid.is_empty() && reviewed.uid != claimed.uid {
        return Err(KubeAuthError::denied(
            "the API server's service-account uid differs from the token's",
        ));
    }
    Ok(Identity {
        namespace: reviewed.namespace,
        name: reviewed.name,
        uid: if reviewed.uid.is_empty() {
            claimed.uid
        } else {
            reviewed.uid
        },
        secret_name: claimed.secret_name,
        pod: reviewed.pod.or(claimed.pod),
    })
}

fn check_bindings(role: &Role, identity: &Identity) -> Result<(), KubeAuthError> {
    if !matches_any(&role.bound_service_account_namespaces, &identity.namespace) {
        return Err(KubeAuthError::denied(format!(
            "namespace {:?} is not in the role's bound_service_account_namespaces",
            identity.namespace
        )));
    }
    if !matches_any(&role.bound_service_account_names, &identity.name) {
        return Err(KubeAuthError::denied(format!(
            "service account {:?} is not in the role's bound_service_account_names",
            identity.name
        )));
    }
    Ok(())
}

fn grant(role_name: &str, role: &Role, identity: &Identity) -> Result<AuthGrant, KubeAuthError> {
    let alias = match role.alias_name_source {
        AliasNameSource::ServiceaccountUid if identity.uid.is_empty() => {
            return Err(KubeAuthError::denied(
                "the token carries no service-account uid, which the role's alias_name_source needs",
            ));
        }
        AliasNameSource::ServiceaccountUid => identity.uid.clone(),
        AliasNameSource::ServiceaccountName => format!("{}/{}", identity.namespace, identity.name),
    };
    let mut metadata = BTreeMap::from([
        ("role".to_string(), role_name.to_string()),
        ("service_account_name".to_string(), identity.name.clone()),
        (
            "service_account_namespace".to_string(),
            identity.namespace.clone(),
        ),
        ("service_account_uid".to_string(), identity.uid.clone()),
        (
            "service_account_secret_name".to_string(),
            identity.secret_name.clone().unwrap_or_default(),
        ),
    ]);
    if let Some((pod_name, pod_uid)) = &identity.pod {
        metadata.insert("pod_name".into(), pod_name.clone());
        metadata.insert("pod_uid".into(), pod_uid.clone());
    }
    Ok(AuthGrant {
        policies: role.token_policies.clone(),
        metadata,
        // The token store prefixes the mount: `kubernetes-<namespace>-<name>`, as in Vault.
        display_name: format!("{}-{}", identity.namespace, identity.name),
        ttl: role.token_ttl.0,
        max_ttl: role.max_ttl(),
        period: role.period(),
        renewable: true,
        num_uses: role.token_num_uses,
        internal: json!({ "role": role_name, "alias": alias }),
    })
}

/// A token renews only while its role exists and still binds its service account; it gets
/// the role's current TTLs (the token store caps at `max_ttl` and refuses when the policies
/// changed).
pub(crate) async fn renew(
    ctx: &EngineContext,
    renewal: &AuthRenewal,
) -> Result<AuthGrant, KubeAuthError> {
    let internal: Internal = serde_json::from_value(renewal.internal.clone())
        .map_err(|_| KubeAuthError::denied("the token was not issued by a kubernetes login"))?;
    let role = role::load(ctx, &internal.role).await?.ok_or_else(|| {
        KubeAuthError::denied(format!("role {:?} no longer exists", internal.role))
    })?;
    let identity = Identity {
        namespace: renewal
            .metadata
            .get("service_account_namespace")
            .cloned()
            .unwrap_or_default(),
        name: renewal
            .metadata
            .get("service_account_name")
            .cloned()
            .unwrap_or_default(),
        ..Identity::default()
    };
    check_bindings(&role, &identity)?;
    Ok(AuthGrant {
        policies: role.token_policies.clone(),
        metadata: renewal.metadata.clone(),
        display_name: format!("{}-{}", identity.namespace, identity.name),
        ttl: role.token_ttl.0,
        max_ttl: role.max_ttl(),
        period: role.period(),
        renewable: true,
        num_uses: role.token_num_uses,
        internal: renewal.internal.clone(),
    })
}
