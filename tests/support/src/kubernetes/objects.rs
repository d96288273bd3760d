//! The few cluster objects token validation looks up: service accounts, pods and legacy token
//! secrets, keyed by namespace and name. Minting a token creates (or re-creates, when the uid
//! differs) what it names; tests delete them to invalidate tokens the way a real cluster does.

use std::collections::HashMap;

use subtle::ConstantTimeEq;

use super::claims::{LegacyClaims, ObjectRef};

type Key = (String, String);

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_owned(), name.to_owned())
}

/// A `kubernetes.io/service-account-token` secret: whose it is and the token it holds.
struct LegacySecret {
    service_account: String,
    token: String,
}

#[derive(Default)]
pub(super) struct Objects {
    /// (namespace, name) to uid.
    service_accounts: HashMap<Key, String>,
    pods: HashMap<Key, String>,
    secrets: HashMap<Key, LegacySecret>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets hold tokens; list names only.
        f.debug_struct("Objects")
            .field("service_accounts", &self.service_accounts.keys())
            .field("pods", &self.pods.keys())
            .field("secrets", &self.secrets.keys())
            .finish()
    }
}

impl Objects {
    pub(super) fn put_service_account(&mut self, namespace: &str, name: &str, uid: &str) {
        self.service_accounts
            .insert(key(namespace, name), uid.to_owned());
    }

    pub(super) fn put_pod(&mut self, namespace: &str, name: &str, uid: &str) {
        self.pods.insert(key(namespace, name), uid.to_owned());
    }

    pub(super) fn put_secret(
        &mut self,
        namespace: &str,
        name: &str,
        service_account: &str,
        token: &str,
    ) {
        self.secrets.insert(
            key(namespace, name),
            LegacySecret {
                service_account: service_account.to_owned(),
                token: token.to_owned(),
            },
        );
    }

    pub(super) fn delete_service_account(&mut self, namespace: &str, name: &str) {
        self.service_accounts.remove(&key(namespace, name));
        // The token controller deletes a service account's token secrets with it.
        self.secrets
            .retain(|(ns, _), secret| !(ns == namespace && secret.service_account == name));
    }

    pub(super) fn delete_pod(&mut self, namespace: &str, name: &str) {
        self.pods.remove(&key(namespace, name));
    }

    pub(super) fn delete_secret(&mut self, namespace: &str, name: &str) {
        self.secrets.remove(&key(namespace, name));
    }

    pub(super) fn check_service_account(
        &self,
        namespace: &str,
        claimed: &ObjectRef,
    ) -> Result<(), String> {
        let Some(uid) = self.service_accounts.get(&key(namespace, &claimed.name)) else {
            return Err(not_found("serviceaccounts", &claimed.name));
        };
        if *uid != claimed.uid {
            return Err(super::authn::invalid(Some(&format!(
                "service account UID ({uid}) does not match claim ({})",
                claimed.uid
            ))));
        }
        Ok(())
    }

    pub(super) fn check_pod(&self, namespace: &str, claimed: &ObjectRef) -> Result<(), String> {
        let Some(uid) = self.pods.get(&key(namespace, &claimed.name)) else {
            return Err(not_found("pods", &claimed.name));
        };
        if *uid != claimed.uid {
            return Err(super::authn::invalid(Some(&format!(
                "pod UID ({uid}) does not match claim ({})",
                claimed.uid
            ))));
        }
        Ok(())
    }

    /// The legacy checks: the secret still exists, still belongs to the account and still
    /// holds this very token, and the account still exists with the claimed uid.
    pub(super) fn check_legacy_secret(
        &self,
        claims: &LegacyClaims,
        token: &str,
    ) -> Result<(), String> {
        let Some(secret) = self
            .secrets
            .get(&key(&claims.namespace, &claims.secret_name))
        else {
            return Err(not_found("secrets", &claims.secret_name));
        };
        if secret.service_account != claims.service_account_name
            || !bool::from(secret.token.as_bytes().ct_eq(token.as_bytes()))
        {
            return Err(super::authn::invalid(Some("token does not match secret")));
        }
        self.check_service_account(
            &claims.namespace,
            &ObjectRef {
                name: claims.service_account_name.clone(),
                uid: claims.service_account_uid.clone(),
            },
        )
    }
}

fn not_found(resource: &str, name: &str) -> String {
    super::authn::invalid(Some(&format!("{resource} \"{name}\" not found")))
}
