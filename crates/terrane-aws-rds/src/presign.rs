//! The `PreSignedUrl` of an encrypted cross-region read replica.
//!
//! CreateDBInstanceReadReplica, called in the replica's region for an encrypted source in
//! another region, must carry a SigV4 query-signed URL of the same operation in the
//! source region (with `DestinationRegion` and the replica's `KmsKeyId`): RDS in the
//! source region checks with it that the caller may read the source and use its key.
//! botocore and the CLI make it from their `SourceRegion` pseudo-parameter; aws-sdk-rust
//! has no such customization, so it is built here with the aws-sigv4 crate's presigning.
//!
//! The URL holds the access key id and a signature (and with temporary credentials the
//! session token), never the secret key; it still grants its bearer that one call for an
//! hour, so it is never logged or put into an error message.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_rds::config::ProvideCredentials;
use aws_sdk_rds::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sdk_rds::error::DisplayErrorContext;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use terrane_provider::ProviderError;

/// How long the presigned URL is valid (botocore's default for these URLs). RDS reads it
/// while handling the create call, so an hour is ample.
pub(crate) const EXPIRES_IN: Duration = Duration::from_secs(3600);

/// The operation's SigV4 signing name.
const SIGNING_NAME: &str = "rds";

/// The RDS Query API version the SDK speaks.
const API_VERSION: &str = "2014-10-31";

/// Query-string encoding: everything but RFC 3986's unreserved characters is
/// percent-encoded, as SigV4's canonical query string has it (so a space is `%20`, never `+`).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What the presigned call says: replicate `source_arn` (in `source_region`) into
/// `destination_region`, encrypted with `kms_key_id` (a key of the destination region).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrossRegionReplica<'a> {
    pub source_arn: &'a str,
    pub source_region: &'a str,
    pub destination_region: &'a str,
    pub kms_key_id: Option<&'a str>,
}

/// The region of an RDS ARN (`arn:<partition>:rds:<region>:<account>:db:<name>`); `None`
/// for a plain identifier or any other ARN.
pub(crate) fn rds_arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_prefix, _partition, service, region) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (arn_prefix == "arn" && service == "rds" && !region.is_empty() && parts.next().is_some())
        .then_some(region)
}

/// The presigned URL for `replica`, signed as the RDS clients built from `sdk` sign their
/// calls: with the credentials of its credentials provider, at the time of its time
/// source, against the source region's endpoint as such a client of the source region
/// resolves it, endpoint override included.
pub(crate) async fn presigned_url(
    sdk: &SdkConfig,
    replica: &CrossRegionReplica<'_>,
) -> Result<String, ProviderError> {
    const WHAT: &str = "presign CreateDBInstanceReadReplica";
    let provider = sdk.credentials_provider().ok_or_else(|| {
        ProviderError::api(
            WHAT,
            "no AWS credentials are configured to sign the PreSignedUrl of an encrypted cross-region replica with",
        )
    })?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| ProviderError::api(WHAT, DisplayErrorContext(&e)))?;
    let endpoint = source_endpoint(sdk, replica.source_region)
        .await
        .map_err(|e| ProviderError::api(WHAT, e))?;
    let time = sdk
        .time_source()
        .map(|t| t.now())
        .unwrap_or_else(SystemTime::now);
    presign(&endpoint, replica, &credentials.into(), time, EXPIRES_IN)
        .map_err(|e| ProviderError::api(WHAT, e))
}

/// The endpoint URL of RDS in `source_region`, resolved by the resolver every RDS client
/// uses (the SDK's default, which terrane never replaces; a client's config does not hand
/// it out) from the parameters the SDK gives it: region, FIPS, dual-stack, and the
/// configured endpoint URL (`AWS_ENDPOINT_URL_RDS` or `AWS_ENDPOINT_URL`, or one set in
/// code).
async fn source_endpoint(sdk: &SdkConfig, source_region: &str) -> Result<String, String> {
    let params = Params::builder()
        .region(source_region)
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(configured_endpoint_url(sdk))
        .build()
        .map_err(|e| format!("endpoint parameters: {e}"))?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| format!("resolve the RDS endpoint of {source_region}: {e}"))?;
    Ok(endpoint.url().to_string())
}

/// The endpoint URL an RDS client built from `sdk` is configured with, chosen as
/// aws-sdk-rds's `From<&SdkConfig>` chooses it: one set in code wins; otherwise the
/// service-specific `AWS_ENDPOINT_URL_RDS`, then the general one (`AWS_ENDPOINT_URL` or
/// the profile's `endpoint_url`). The SDK config exposes no way to ask it for the
/// service-specific value, so that one is read from the environment here (a profile's
/// `[services]` section is not consulted).
fn configured_endpoint_url(sdk: &SdkConfig) -> Option<String> {
    let general = sdk.endpoint_url().map(str::to_string);
    if sdk.get_origin("endpoint_url").is_client_config() || sdk.service_config().is_none() {
        return general;
    }
    std::env::var("AWS_ENDPOINT_URL_RDS")
        .ok()
        .filter(|v| !v.is_empty())
        .or(general)
}

/// The URL of a GET of CreateDBInstanceReadReplica on `endpoint` (the source region's),
/// query-string signed with SigV4 for `rds` in the source region, valid `expires_in`.
pub(crate) fn presign(
    endpoint: &str,
    replica: &CrossRegionReplica<'_>,
    identity: &Identity,
    time: SystemTime,
    expires_in: Duration,
) -> Result<String, String> {
    let mut params = vec![
        ("Action", "CreateDBInstanceReadReplica"),
        ("Version", API_VERSION),
        ("SourceDBInstanceIdentifier", replica.source_arn),
        ("DestinationRegion", replica.destination_region),
    ];
    if let Some(key) = replica.kms_key_id {
        params.push(("KmsKeyId", key));
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY)))
        .collect::<Vec<_>>()
        .join("&");
    let mut url = format!("{}/?{query}", endpoint.trim_end_matches('/'));

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let signing_params = v4::SigningParams::builder()
        .identity(identity)
        .region(replica.source_region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty())
        .map_err(|e| format!("the URL to sign: {e}"))?;
    let (instructions, _signature) = sign(request, &signing_params)
        .map_err(|e| format!("sign: {e}"))?
        .into_parts();
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.extend(utf8_percent_encode(value, QUERY));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::config::Credentials;
    use std::collections::BTreeMap;

    const SOURCE_ARN: &str = "arn:aws:rds:us-west-2:123456789012:db:src-db";
    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/0d5b6a3e-1111-2222-3333-444455556666";

    /// 2024-05-06T07:08:09Z.
    fn fixed_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_979_289)
    }

    fn replica() -> CrossRegionReplica<'static> {
        CrossRegionReplica {
            source_arn: SOURCE_ARN,
            source_region: "us-west-2",
            destination_region: "eu-west-1",
            kms_key_id: Some(KEY),
        }
    }

    fn identity(token: Option<&str>) -> Identity {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
        .into()
    }

    /// The URL's scheme and host, path, and decoded query parameters (each name once).
    fn parse(url: &str) -> (String, String, BTreeMap<String, String>) {
        let (base, query) = url.split_once('?').expect("a query string");
        let (origin, path) = match base.find("://").map(|i| i + 3) {
            Some(i) => match base[i..].find('/') {
                Some(j) => (base[..i + j].to_string(), base[i + j..].to_string()),
                None => (base.to_string(), String::new()),
            },
            None => panic!("no scheme in {url}"),
        };
        let mut params = BTreeMap::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').expect("name=value");
            assert!(
                !v.contains(['+', ' ', ':', '/']),
                "{k} is not fully percent-encoded: {v}"
            );
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap()
                .to_string();
            assert!(params.insert(k.to_string(), v).is_none(), "{k} twice");
        }
        (origin, path, params)
    }

    #[test]
    fn the_url_is_a_signed_call_of_the_source_region() {
        let url = presign(
            "https://rds.us-west-2.amazonaws.com",
            &replica(),
            &identity(None),
            fixed_time(),
            EXPIRES_IN,
        )
        .unwrap();
        let (origin, path, p) = parse(&url);
        assert_eq!(origin, "https://rds.us-west-2.amazonaws.com");
        assert_eq!(path, "/");
        assert_eq!(p["Action"], "CreateDBInstanceReadReplica");
        assert_eq!(p["Version"], "2014-10-31");
        assert_eq!(p["SourceDBInstanceIdentifier"], SOURCE_ARN);
        assert_eq!(p["DestinationRegion"], "eu-west-1");
        assert_eq!(p["KmsKeyId"], KEY);
        assert_eq!(p["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            p["X-Amz-Credential"],
            "AKIDEXAMPLE/20240506/us-west-2/rds/aws4_request"
        );
        assert_eq!(p["X-Amz-Date"], "20240506T070809Z");
        assert_eq!(p["X-Amz-Expires"], "3600");
        assert_eq!(p["X-Amz-SignedHeaders"], "host");
        let signature = &p["X-Amz-Signature"];
        assert_eq!(signature.len(), 64, "{signature}");
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
        // The secret never appears; without a session token there is no token parameter.
        assert!(!url.contains("wJalrXUtnFEMI") && !url.contains("EXAMPLEKEY"));
        assert!(!p.contains_key("X-Amz-Security-Token"));
        assert_eq!(p.len(), 11, "{p:?}");
    }

    /// The URL is, byte for byte, the one botocore (which the CLI uses for
    /// `--source-region`) makes of the same call: `SigV4QueryAuth(credentials, "rds",
    /// "us-west-2", 3600)` on a GET of the same parameters, with the same credentials and
    /// time (botocore 1.44.5). So the canonical request (payload hash of the empty body,
    /// `host` as the only signed header) and the signature are the ones AWS checks.
    #[test]
    fn the_url_matches_botocores() {
        let url = presign(
            "https://rds.us-west-2.amazonaws.com",
            &replica(),
            &identity(None),
            fixed_time(),
            EXPIRES_IN,
        )
        .unwrap();
        assert_eq!(url, BOTOCORE_URL);
    }

    const BOTOCORE_URL: &str = concat!(
        "https://rds.us-west-2.amazonaws.com/?Action=CreateDBInstanceReadReplica",
        "&Version=2014-10-31",
        "&SourceDBInstanceIdentifier=arn%3Aaws%3Ards%3Aus-west-2%3A123456789012%3Adb%3Asrc-db",
        "&DestinationRegion=eu-west-1",
        "&KmsKeyId=arn%3Aaws%3Akms%3Aeu-west-1%3A123456789012%3Akey%2F0d5b6a3e-1111-2222-3333-444455556666",
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "&X-Amz-Credential=AKIDEXAMPLE%2F20240506%2Fus-west-2%2Frds%2Faws4_request",
        "&X-Amz-Date=20240506T070809Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host",
        "&X-Amz-Signature=e9bbb78327939c39e97b1d286a1d032d986083a42cab255ad68574bbbb23940a",
    );

    #[test]
    fn temporary_credentials_carry_their_session_token_and_the_key_is_optional() {
        let without_key = CrossRegionReplica {
            kms_key_id: None,
            ..replica()
        };
        let url = presign(
            "http://127.0.0.1:5000/",
            &without_key,
            &identity(Some("token/with+odd=chars")),
            fixed_time(),
            Duration::from_secs(900),
        )
        .unwrap();
        let (origin, path, p) = parse(&url);
        // An endpoint override is used as it is (a trailing slash is not doubled).
        assert_eq!(origin, "http://127.0.0.1:5000");
        assert_eq!(path, "/");
        assert_eq!(p["X-Amz-Security-Token"], "token/with+odd=chars");
        assert_eq!(p["X-Amz-Expires"], "900");
        assert!(!p.contains_key("KmsKeyId"));
        assert_eq!(p["DestinationRegion"], "eu-west-1");
    }

    #[test]
    fn the_source_region_comes_from_an_rds_arn_only() {
        assert_eq!(rds_arn_region(SOURCE_ARN), Some("us-west-2"));
        assert_eq!(
            rds_arn_region("arn:aws-cn:rds:cn-north-1:123456789012:db:x"),
            Some("cn-north-1")
        );
        assert_eq!(rds_arn_region("src-db"), None);
        assert_eq!(rds_arn_region("arn:aws:kms:us-west-2:1:key/x"), None);
        assert_eq!(rds_arn_region("arn:aws:rds::123456789012:db:x"), None);
        assert_eq!(rds_arn_region("arn:aws:rds:us-west-2"), None);
    }

    /// The endpoint is the one the SDK resolves for the source region: the regional AWS
    /// endpoint, or the configured override as it is.
    #[tokio::test]
    async fn the_endpoint_is_the_source_regions_as_the_sdk_resolves_it() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let aws = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(creds))
            .build();
        let url = presigned_url(&aws, &replica()).await.unwrap();
        assert!(
            url.starts_with("https://rds.us-west-2.amazonaws.com/?Action="),
            "{url}"
        );
        let china = CrossRegionReplica {
            source_arn: "arn:aws-cn:rds:cn-north-1:123456789012:db:src-db",
            source_region: "cn-north-1",
            destination_region: "cn-northwest-1",
            kms_key_id: None,
        };
        let url = presigned_url(&aws, &china).await.unwrap();
        assert!(
            url.starts_with("https://rds.cn-north-1.amazonaws.com.cn/?Action="),
            "{url}"
        );
        let local = aws
            .to_builder()
            .endpoint_url("http://127.0.0.1:4566")
            .build();
        let url = presigned_url(&local, &replica()).await.unwrap();
        assert!(url.starts_with("http://127.0.0.1:4566/?Action="), "{url}");
        // Still signed for the source region.
        let (_, _, p) = parse(&url);
        assert!(p["X-Amz-Credential"].ends_with("/us-west-2/rds/aws4_request"));
    }

    #[tokio::test]
    async fn no_credentials_is_an_error_that_says_so() {
        let aws = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let err = presigned_url(&aws, &replica()).await.unwrap_err();
        assert!(err.to_string().contains("no AWS credentials"), "{err}");
    }
}
