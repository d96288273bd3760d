//! What a mount's stored configuration turns into at run time: parsed PEM keys, the JWKS
//! cache, the TokenReview client. Built on first use and rebuilt whenever the stored
//! configuration changes (it is read on every login, so a write on one broker takes effect
//! everywhere without any signal between them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lessor_sdk::EngineContext;
use zeroize::Zeroizing;

use crate::config::{self, Config, ValidationMode};
use crate::error::KubeAuthError;
use crate::in_cluster::InCluster;
use crate::jwks::Jwks;
use crate::keys::{self, VerifyKey};
use crate::review::{BearerSource, CaSource, Reviewer};
use crate::reviewer_token::TokenFile;

pub(crate) struct MountState {
    /// The stored bytes this state was built from (they hold the reviewer token, hence
    /// zeroized).
    raw: Zeroizing<Vec<u8>>,
    pub config: Config,
    pub pem_keys: Vec<VerifyKey>,
    pub jwks: Option<Jwks>,
    /// Present in token_review mode once a host is known.
    pub reviewer: Option<Reviewer>,
}

impl std::fmt::Debug for MountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountState")
            .field("validation", &self.config.validation)
            .field("pem_keys", &self.pem_keys.len())
            .field("jwks", &self.config.jwks_url)
            .field("reviewer", &self.reviewer)
            .finish_non_exhaustive()
    }
}

/// The states of every mount this method serves, by mount path.
#[derive(Debug, Default)]
pub(crate) struct MountStates {
    states: Mutex<HashMap<String, Arc<MountState>>>,
}

impl MountStates {
    pub(crate) async fn get(
        &self,
        ctx: &EngineContext,
        in_cluster: &InCluster,
    ) -> Result<Arc<MountState>, KubeAuthError> {
        let raw = Zeroizing::new(
            ctx.storage
                .get(config::STORAGE_KEY)
                .await?
                .unwrap_or_default(),
        );
        if let Some(state) = self.lock().get(&ctx.mount_path)
            && state.raw == raw
        {
            return Ok(Arc::clone(state));
        }
        let config: Config = if raw.is_empty() {
            // Nothing configured: token_review with everything taken from the pod.
            Config::default()
        } else {
            serde_json::from_slice(&raw).map_err(|error| {
                KubeAuthError::Internal(format!("stored config is corrupt: {error}"))
            })?
        };
        let state = Arc::new(build(raw, config, in_cluster)?);
        self.lock()
            .insert(ctx.mount_path.clone(), Arc::clone(&state));
        Ok(state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<MountState>>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn build(
    raw: Zeroizing<Vec<u8>>,
    config: Config,
    in_cluster: &InCluster,
) -> Result<MountState, KubeAuthError> {
    let pem_keys = config
        .pem_keys
        .iter()
        .enumerate()
        .map(|(index, pem)| {
            VerifyKey::from_pem(pem).map_err(|error| {
                KubeAuthError::Internal(format!("stored pem_keys[{index}]: {error}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let jwks = if config.jwks_url.is_empty() {
        None
    } else {
        Some(Jwks::new(&config.jwks_url, &config.jwks_ca_cert)?)
    };
    let reviewer = match config.validation {
        ValidationMode::Local => None,
        ValidationMode::TokenReview => reviewer(&config, in_cluster)?,
    };
    Ok(MountState {
        raw,
        config,
        pem_keys,
        jwks,
        reviewer,
    })
}

/// The TokenReview client's settings: the config's, else the pod's (unless
/// `disable_local_ca_jwt`), else the platform trust store and the login's own JWT.
fn reviewer(config: &Config, in_cluster: &InCluster) -> Result<Option<Reviewer>, KubeAuthError> {
    let host = if config.kubernetes_host.is_empty() {
        match &in_cluster.host {
            Some(host) => host.clone(),
            None => return Ok(None),
        }
    } else {
        config.kubernetes_host.clone()
    };
    let use_local = !config.disable_local_ca_jwt;
    let ca = if !config.kubernetes_ca_cert.trim().is_empty() {
        CaSource::Pem(
            keys::parse_certificates(&config.kubernetes_ca_cert).map_err(|error| {
                KubeAuthError::Internal(format!("stored kubernetes_ca_cert: {error}"))
            })?,
        )
    } else if use_local && in_cluster.ca_cert_path.exists() {
        CaSource::File(in_cluster.ca_cert_path.clone())
    } else {
        CaSource::System
    };
    let bearer = match &config.token_reviewer_jwt {
        Some(jwt) => BearerSource::Static(Zeroizing::new(jwt.to_string())),
        None if use_local && in_cluster.token_path.exists() => {
            BearerSource::File(TokenFile::new(in_cluster.token_path.clone()))
        }
        None => BearerSource::LoginJwt,
    };
    Ok(Some(Reviewer::new(host, ca, bearer)))
}
