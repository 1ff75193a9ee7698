pub mod vpc; pub mod subnet; pub mod internet_gateway; pub mod security_group;
