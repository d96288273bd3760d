//! ACL policies in Vault's HCL and JSON syntax
