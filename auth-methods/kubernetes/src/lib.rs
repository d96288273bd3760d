//! Kubernetes service-account JWT authentication (TokenReview or local JWKS/PEM verification)
