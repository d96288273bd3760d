//! The CSI Identity and Node services (spec v1.12.0) for ephemeral inline volumes. Requests
//! are validated here, with the codes the spec prescribes, before `driver` sees them.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::attributes::{self, InvalidAttributes, PodInfo, VolumeSpec};
use crate::driver::{Driver, DriverError, Publish};
use crate::files::FilesError;
use crate::proto::csi;
use crate::proto::csi::volume_capability::AccessType;
use crate::volume::VolumeError;

pub const DRIVER_NAME: &str = "csi.lessor.dev";

#[derive(Debug, Clone)]
pub struct Identity;

#[tonic::async_trait]
impl csi::identity_server::Identity for Identity {
    async fn get_plugin_info(
        &self,
        _: Request<csi::GetPluginInfoRequest>,
    ) -> Result<Response<csi::GetPluginInfoResponse>, Status> {
        Ok(Response::new(csi::GetPluginInfoResponse {
            name: DRIVER_NAME.into(),
            vendor_version: env!("CARGO_PKG_VERSION").into(),
            manifest: Default::default(),
        }))
    }

    /// No controller service: a node-only plugin advertises nothing.
    async fn get_plugin_capabilities(
        &self,
        _: Request<csi::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<csi::GetPluginCapabilitiesResponse>, Status> {
        Ok(Response::new(csi::GetPluginCapabilitiesResponse {
            capabilities: Vec::new(),
        }))
    }

    async fn probe(
        &self,
        _: Request<csi::ProbeRequest>,
    ) -> Result<Response<csi::ProbeResponse>, Status> {
        Ok(Response::new(csi::ProbeResponse { ready: Some(true) }))
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub driver: Arc<Driver>,
    pub node_id: String,
}

fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{what} is required")));
    }
    Ok(value)
}

impl From<InvalidAttributes> for Status {
    fn from(error: InvalidAttributes) -> Self {
        Status::invalid_argument(error.0)
    }
}

/// One place that maps driver errors to gRPC codes.
impl From<DriverError> for Status {
    fn from(error: DriverError) -> Self {
        let message = error.to_string();
        match error {
            DriverError::InvalidArgument(_) => Status::invalid_argument(message),
            DriverError::AlreadyExists(_) => Status::already_exists(message),
            DriverError::Volume(VolumeError::NoPodToken(_)) => Status::invalid_argument(message),
            DriverError::Volume(VolumeError::WrongPod { .. }) => Status::permission_denied(message),
            DriverError::Volume(VolumeError::MissingKey { .. }) => {
                Status::failed_precondition(message)
            }
            DriverError::Volume(VolumeError::Broker { source, .. }) if source.is_refusal() => {
                Status::permission_denied(message)
            }
            DriverError::Volume(VolumeError::Broker { .. }) => Status::unavailable(message),
            DriverError::Files(FilesError::MountDenied(_))
            | DriverError::Volume(VolumeError::Files(FilesError::MountDenied(_))) => {
                Status::failed_precondition(message)
            }
            _ => Status::internal(message),
        }
    }
}

#[tonic::async_trait]
impl csi::node_server::Node for Node {
    async fn node_publish_volume(
        &self,
        request: Request<csi::NodePublishVolumeRequest>,
    ) -> Result<Response<csi::NodePublishVolumeResponse>, Status> {
        let request = request.into_inner();
        let volume_id = required(&request.volume_id, "volume_id")?;
        let target = required(&request.target_path, "target_path")?;
        let capability = request
            .volume_capability
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("volume_capability is required"))?;
        match capability.access_type {
            Some(AccessType::Mount(_)) => {}
            Some(AccessType::Block(_)) => {
                return Err(Status::invalid_argument(
                    "block access is not supported: the volume is a directory of files",
                ));
            }
            None => {
                return Err(Status::invalid_argument(
                    "volume_capability.access_type is required",
                ));
            }
        }
        if capability.access_mode.is_none() {
            return Err(Status::invalid_argument(
                "volume_capability.access_mode is required",
            ));
        }
        let target_path = PathBuf::from(target);
        if !target_path.is_absolute() {
            return Err(Status::invalid_argument("target_path must be absolute"));
        }
        let context = &request.volume_context;
        attributes::check_ephemeral(context)?;
        let spec = VolumeSpec::from_attributes(context)?;
        let pod_token = attributes::pod_token(context, &spec.audience)?;
        let publish = Publish {
            volume_id: volume_id.to_owned(),
            target_path,
            spec,
            pod: PodInfo::from_attributes(context),
            pod_token,
        };
        self.driver.publish(publish).await.map_err(|error| {
            tracing::warn!(volume = %volume_id, %error, "publish failed");
            Status::from(error)
        })?;
        Ok(Response::new(csi::NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<csi::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<csi::NodeUnpublishVolumeResponse>, Status> {
        let request = request.into_inner();
        let volume_id = required(&request.volume_id, "volume_id")?;
        let target = required(&request.target_path, "target_path")?;
        self.driver
            .unpublish(volume_id, PathBuf::from(target))
            .await
            .map_err(|error| {
                tracing::warn!(volume = %volume_id, %error, "unpublish failed");
                Status::from(error)
            })?;
        Ok(Response::new(csi::NodeUnpublishVolumeResponse {}))
    }

    /// Nothing optional: no staging (ephemeral volumes), no stats, no expansion.
    async fn node_get_capabilities(
        &self,
        _: Request<csi::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<csi::NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(csi::NodeGetCapabilitiesResponse {
            capabilities: Vec::new(),
        }))
    }

    async fn node_get_info(
        &self,
        _: Request<csi::NodeGetInfoRequest>,
    ) -> Result<Response<csi::NodeGetInfoResponse>, Status> {
        Ok(Response::new(csi::NodeGetInfoResponse {
            node_id: self.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}
