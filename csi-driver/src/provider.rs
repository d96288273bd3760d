//! Secrets Store CSI Driver provider mode: the `CSIDriverProvider` service (v1alpha1
//! `Version` + `Mount`) on `<provider-dir>/lessor.sock`, for clusters that already run that
//! driver. A mount uses the same lease keeping as the Node service, keyed by pod uid and kept
//! in memory, so the driver's rotation polls renew instead of minting; the files go back in
//! the response (the driver writes them) with one `object_version` per object, which the
//! driver requires and which changes only when the credential does.
//!
//! The driver never tells a provider that a pod is gone; the per-pod timer notices the
//! mount's target path disappearing and revokes then.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::attributes::{self, PodInfo, VolumeSpec};
use crate::driver::{Driver, Publish};
use crate::proto::provider as pb;

#[derive(Debug, Clone)]
pub struct Provider {
    pub driver: Arc<Driver>,
}

#[tonic::async_trait]
impl pb::csi_driver_provider_server::CsiDriverProvider for Provider {
    async fn version(
        &self,
        request: Request<pb::VersionRequest>,
    ) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(pb::VersionResponse {
            version: request.into_inner().version,
            runtime_name: "lessor".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn mount(
        &self,
        request: Request<pb::MountRequest>,
    ) -> Result<Response<pb::MountResponse>, Status> {
        let request = request.into_inner();
        let parameters: HashMap<String, String> = serde_json::from_str(&request.attributes)
            .map_err(|_| Status::invalid_argument("attributes is not a JSON map of strings"))?;
        // The SecretProviderClass may carry parameters meant for the driver itself.
        let ours: HashMap<String, String> = parameters
            .iter()
            .filter(|(key, _)| {
                attributes::SPEC_ATTRIBUTES.contains(&key.as_str())
                    || key.starts_with(attributes::KUBELET_PREFIX)
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let spec = VolumeSpec::from_attributes(&ours)?;
        let pod = PodInfo::from_attributes(&parameters);
        if pod.uid.is_empty() {
            return Err(Status::invalid_argument(format!(
                "attributes lack {}",
                attributes::POD_UID
            )));
        }
        if request.target_path.is_empty() {
            return Err(Status::invalid_argument("target_path is required"));
        }
        let pod_token = attributes::pod_token(&parameters, &spec.audience)?;
        let publish = Publish {
            volume_id: format!("provider/{}", pod.uid),
            target_path: PathBuf::from(&request.target_path),
            spec,
            pod,
            pod_token,
        };
        let (files, versions) = self.driver.provider_mount(publish).await.map_err(|error| {
            tracing::warn!(%error, "provider mount failed");
            Status::from(error)
        })?;
        Ok(Response::new(pb::MountResponse {
            object_version: versions
                .into_iter()
                .map(|(id, version)| pb::ObjectVersion {
                    id,
                    version: version.to_string(),
                })
                .collect(),
            error: None,
            files: files
                .into_iter()
                .map(|(path, content)| pb::File {
                    path,
                    mode: i32::try_from(content.mode).unwrap_or(0o644),
                    contents: content.bytes.to_vec(),
                })
                .collect(),
        }))
    }
}
