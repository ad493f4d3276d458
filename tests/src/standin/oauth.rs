//! The stand-in's OAuth token endpoint (`POST /token`): the
//! service-account JWT-bearer flow gcp_auth speaks, verified against the
//! key pair generated here ([`ServiceAccount`]).

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

use super::state::now_s;

/// A generated service account: its key file for gcp_auth, and the public
/// key the token endpoint verifies with.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub email: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
    public: RsaPublicKey,
}

impl ServiceAccount {
    /// A fresh 2048-bit RSA key (the smallest ring signs with).
    pub fn generate() -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 2048).expect("generate an RSA key");
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encode the key")
            .to_string();
        ServiceAccount {
            email: "uploader@tracespool-test.iam.gserviceaccount.com".into(),
            private_key_pem: pem,
            public: RsaPublicKey::from(&key),
        }
    }

    /// A key file in Google's format whose `token_uri` points at `token_uri`.
    pub fn key_file_json(&self, token_uri: &str, project: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": "test",
            "private_key": self.private_key_pem,
            "client_email": self.email,
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string()
    }
}

pub(super) fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    rsa::rand_core::RngCore::fill_bytes(&mut rsa::rand_core::OsRng, &mut b);
    u128::from_le_bytes(b)
}

/// A value of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &str, key: &str) -> Option<String> {
    let raw = body
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn b64(seg: &str) -> Result<Vec<u8>, String> {
    // gcp_auth pads its segments; JWTs normally do not. Accept both.
    URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(seg))
        .map_err(|e| format!("bad base64: {e}"))
}

/// Verifies a JWT-bearer token request from gcp_auth.
pub(super) fn verify_token_request(
    method: &str,
    body: &[u8],
    account: &ServiceAccount,
    token_uri: &str,
) -> Result<(), String> {
    if method != "POST" {
        return Err("token requests are POST".into());
    }
    let body = std::str::from_utf8(body).map_err(|_| "body is not UTF-8")?;
    if form_value(body, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err("grant_type must be jwt-bearer".into());
    }
    let jwt = form_value(body, "assertion").ok_or("no assertion")?;
    let jwt = jwt.as_str();
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts[..] else {
        return Err("assertion is not a JWT".into());
    };
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let claims: Value = serde_json::from_slice(&b64(c)?).map_err(|e| e.to_string())?;
    let signature = Signature::try_from(&b64(sig)?[..]).map_err(|e| e.to_string())?;
    VerifyingKey::<Sha256>::new(account.public.clone())
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| "signature does not verify")?;
    if claims["iss"] != account.email.as_str() {
        return Err("iss is not the service account".into());
    }
    if claims["aud"] != token_uri {
        return Err(format!("aud {} is not {token_uri}", claims["aud"]));
    }
    let scope = claims["scope"].as_str().unwrap_or("");
    if !scope.split(' ').any(|s| {
        s == "https://www.googleapis.com/auth/trace.append"
            || s == "https://www.googleapis.com/auth/cloud-platform"
    }) {
        return Err(format!("scope {scope:?} cannot write traces"));
    }
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let now = now_s();
    if iat > now + 60 || exp <= now || exp > iat + 3600 {
        return Err("iat/exp out of range".into());
    }
    Ok(())
}
