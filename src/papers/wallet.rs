//! Apple Wallet passes: a booking's tickets as `.pkpass` files, as Apple
//! specifies them — a ZIP of `pass.json`, the icons, a `manifest.json` with
//! the SHA-1 of every other file, and `signature`, a detached PKCS #7
//! (CMS) signature over the manifest by the organizer's Pass Type ID
//! certificate, carrying that certificate and Apple's WWDR intermediate.
//! A booking of several tickets gives a `.pkpasses` bundle (a ZIP of one
//! pass per ticket), which Wallet adds at once.
//!
//! Signed in pure Rust (RustCrypto's `cms` and `rsa`): no OpenSSL to link,
//! and the key never leaves the process. Apple issues Pass Type ID
//! certificates for RSA keys, so RSA with SHA-256 is all this signs with.

use std::io::Write;
use std::sync::LazyLock;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder, create_signing_time_attribute};
use cms::cert::CertificateChoices;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::ticket_pdf::TicketPage;

/// What Wallet is given: one pass, or a bundle of several.
pub struct Passes {
    pub bytes: Vec<u8>,
    /// `application/vnd.apple.pkpass` or `application/vnd.apple.pkpasses`.
    pub content_type: &'static str,
    /// `pkpass` or `pkpasses`.
    pub extension: &'static str,
}

#[derive(Debug, thiserror::Error)]
#[error("the Apple Wallet pass could not be made: {0}")]
pub struct WalletError(String);

/// The organizer's pass signing identity (`APPLE_PASS_*`), read and checked
/// once at start: a certificate that does not belong to the key fails there,
/// not on a buyer's phone.
pub struct PassSigner {
    key: SigningKey<Sha256>,
    certificate: Certificate,
    /// Apple's WWDR intermediate (and anything above it that was given).
    chain: Vec<Certificate>,
    pass_type_id: String,
    team_id: String,
    organization: String,
}

impl std::fmt::Debug for PassSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassSigner").field("pass_type_id", &self.pass_type_id).finish_non_exhaustive()
    }
}

impl PassSigner {
    /// From the settings: `None` when none of them is set; an error naming
    /// what is wrong when some are missing or a file is not what it should be.
    pub fn from_config(config: &crate::config::Config) -> Result<Option<Self>, String> {
        let given = [
            config.apple_pass_certificate.is_some(),
            config.apple_pass_key.is_some(),
            config.apple_pass_type_id.is_some(),
            config.apple_pass_team_id.is_some(),
        ];
        if given.iter().all(|g| !g) {
            return Ok(None);
        }
        let (Some(certificate), Some(key), Some(pass_type_id), Some(team_id)) = (
            &config.apple_pass_certificate,
            &config.apple_pass_key,
            &config.apple_pass_type_id,
            &config.apple_pass_team_id,
        ) else {
            return Err("Apple Wallet passes need all of APPLE_PASS_CERTIFICATE, APPLE_PASS_KEY, \
                 APPLE_PASS_TYPE_ID and APPLE_PASS_TEAM_ID (or none of them)"
                .into());
        };
        let read = |name: &str, path: &str| {
            std::fs::read_to_string(path).map_err(|err| format!("{name}: cannot read {path}: {err}"))
        };
        let chain = match &config.apple_pass_wwdr {
            Some(path) => read("APPLE_PASS_WWDR", path)?,
            None => {
                tracing::warn!(
                    "APPLE_PASS_WWDR is not set: passes are signed without Apple's WWDR intermediate, which Wallet on a device requires"
                );
                String::new()
            }
        };
        Self::from_pem(
            &read("APPLE_PASS_CERTIFICATE", certificate)?,
            &read("APPLE_PASS_KEY", key)?,
            &chain,
            pass_type_id,
            team_id,
            &config.apple_pass_organization,
        )
        .map(Some)
    }

    /// From PEM text: the certificate, its private key (PKCS #8 or PKCS #1,
    /// unencrypted) and the chain above it (any number of certificates).
    pub fn from_pem(
        certificate_pem: &str,
        key_pem: &str,
        chain_pem: &str,
        pass_type_id: &str,
        team_id: &str,
        organization: &str,
    ) -> Result<Self, String> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;

        let certificate = Certificate::from_pem(certificate_pem)
            .map_err(|err| format!("APPLE_PASS_CERTIFICATE is not a PEM certificate: {err}"))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|_| "APPLE_PASS_KEY is not an unencrypted RSA private key in PEM".to_owned())?;
        let ours = key.to_public_key().to_public_key_der().map_err(|err| err.to_string())?;
        let theirs = certificate.tbs_certificate.subject_public_key_info.to_der().map_err(|err| err.to_string())?;
        if ours.as_bytes() != theirs.as_slice() {
            return Err("APPLE_PASS_KEY is not the key of APPLE_PASS_CERTIFICATE".into());
        }
        let given = match chain_pem.trim() {
            "" => Vec::new(),
            pem => Certificate::load_pem_chain(pem.as_bytes())
                .map_err(|err| format!("APPLE_PASS_WWDR is not PEM certificates: {err}"))?,
        };
        // Each certificate once (a signature's set cannot hold one twice,
        // and a file may repeat the signer's own).
        let mut chain: Vec<Certificate> = Vec::new();
        for next in given {
            if next != certificate && !chain.contains(&next) {
                chain.push(next);
            }
        }
        for (name, value) in [("APPLE_PASS_TYPE_ID", pass_type_id), ("APPLE_PASS_TEAM_ID", team_id)] {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
        }
        Ok(Self {
            key: SigningKey::<Sha256>::new(key),
            certificate,
            chain,
            pass_type_id: pass_type_id.trim().to_owned(),
            team_id: team_id.trim().to_owned(),
            organization: organization.to_owned(),
        })
    }

    /// The passes of `tickets` (a booking's valid tickets; at least one).
    pub fn passes(&self, tickets: &[TicketPage]) -> Result<Passes, WalletError> {
        match tickets {
            [] => Err(WalletError("no tickets".into())),
            [one] => {
                Ok(Passes { bytes: self.pass(one)?, content_type: "application/vnd.apple.pkpass", extension: "pkpass" })
            }
            many => {
                let files = many
                    .iter()
                    .enumerate()
                    .map(|(i, ticket)| Ok((format!("ticket-{}.pkpass", i + 1), self.pass(ticket)?)))
                    .collect::<Result<Vec<_>, WalletError>>()?;
                Ok(Passes {
                    bytes: zip(&files)?,
                    content_type: "application/vnd.apple.pkpasses",
                    extension: "pkpasses",
                })
            }
        }
    }

    /// One ticket's `.pkpass`.
    pub fn pass(&self, ticket: &TicketPage) -> Result<Vec<u8>, WalletError> {
        let pass_json =
            serde_json::to_vec_pretty(&self.pass_json(ticket)).map_err(|err| WalletError(err.to_string()))?;
        let mut files: Vec<(String, Vec<u8>)> = vec![("pass.json".into(), pass_json)];
        for (name, png) in ICONS.iter() {
            files.push(((*name).to_owned(), png.clone()));
        }
        // Apple: "a dictionary whose keys are the file names and whose
        // values are the SHA-1 hashes of the files' contents, in hex".
        let manifest: serde_json::Map<String, serde_json::Value> =
            files.iter().map(|(name, bytes)| (name.clone(), hex(&Sha1::digest(bytes)).into())).collect();
        let manifest = serde_json::to_vec(&manifest).map_err(|err| WalletError(err.to_string()))?;
        let signature = self.sign(&manifest)?;
        files.push(("manifest.json".into(), manifest));
        files.push(("signature".into(), signature));
        zip(&files)
    }

    /// `pass.json`: an event ticket with the code as a QR barcode.
    fn pass_json(&self, ticket: &TicketPage) -> serde_json::Value {
        let field =
            |key: &str, label: &str, value: &str| serde_json::json!({"key": key, "label": label, "value": value});
        let mut pass = serde_json::json!({
            "formatVersion": 1,
            "passTypeIdentifier": self.pass_type_id,
            "teamIdentifier": self.team_id,
            "serialNumber": ticket.serial,
            "organizationName": self.organization,
            "description": format!("Ticket for {}", ticket.event_title),
            "logoText": ticket.event_title,
            "relevantDate": ticket.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "backgroundColor": "rgb(255, 255, 255)",
            "foregroundColor": "rgb(17, 24, 39)",
            "labelColor": "rgb(75, 85, 99)",
            "barcodes": [{
                "format": "PKBarcodeFormatQR",
                "message": ticket.code,
                "messageEncoding": "iso-8859-1",
                "altText": ticket.code,
            }],
            "eventTicket": {
                "primaryFields": [field("event", "EVENT", &ticket.event_title)],
                "secondaryFields": [field("when", "WHEN", &ticket.when)],
                "auxiliaryFields": [
                    field("holder", "HOLDER", &ticket.holder),
                    field("type", "TICKET", &ticket.ticket_type),
                ],
                "backFields": [
                    field("venue", "Venue", &ticket.venue),
                    field("reference", "Booking", &ticket.reference),
                    field("position", "Ticket", &ticket.position),
                    field("code", "Ticket code", &ticket.code),
                ],
            },
        });
        if !ticket.venue.is_empty() {
            pass["eventTicket"]["secondaryFields"].as_array_mut().into_iter().for_each(|fields| {
                fields.push(field("venue", "WHERE", &ticket.venue));
            });
        }
        pass
    }

    /// The detached CMS signature over `manifest`: signed attributes with
    /// the content type, the manifest's SHA-256 and the signing time; the
    /// signer's certificate and the chain; DER.
    fn sign(&self, manifest: &[u8]) -> Result<Vec<u8>, WalletError> {
        let failed = |err: &dyn std::fmt::Display| WalletError(err.to_string());
        let content = EncapsulatedContentInfo { econtent_type: const_oid::db::rfc5911::ID_DATA, econtent: None };
        let digest_algorithm = AlgorithmIdentifierOwned { oid: const_oid::db::rfc5912::ID_SHA_256, parameters: None };
        let digest = Sha256::digest(manifest);
        let sid = SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
            issuer: self.certificate.tbs_certificate.issuer.clone(),
            serial_number: self.certificate.tbs_certificate.serial_number.clone(),
        });
        let mut signer =
            SignerInfoBuilder::new(&self.key, sid, digest_algorithm.clone(), &content, Some(digest.as_slice()))
                .map_err(|err| failed(&err))?;
        signer
            .add_signed_attribute(create_signing_time_attribute().map_err(|err| failed(&err))?)
            .map_err(|err| failed(&err))?;
        let mut signed = SignedDataBuilder::new(&content);
        signed.add_digest_algorithm(digest_algorithm).map_err(|err| failed(&err))?;
        for certificate in std::iter::once(&self.certificate).chain(&self.chain) {
            signed.add_certificate(CertificateChoices::Certificate(certificate.clone())).map_err(|err| failed(&err))?;
        }
        signed.add_signer_info::<_, rsa::pkcs1v15::Signature>(signer).map_err(|err| failed(&err))?;
        signed.build().map_err(|err| failed(&err))?.to_der().map_err(|err| failed(&err))
    }
}

/// `files` as a ZIP (stored: a pass's files are small and PNGs compressed).
fn zip(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, WalletError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).map_err(|err| WalletError(err.to_string()))?;
        zip.write_all(bytes).map_err(|err| WalletError(err.to_string()))?;
    }
    Ok(zip.finish().map_err(|err| WalletError(err.to_string()))?.into_inner())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The icons Wallet requires (shown in notifications and on the lock
/// screen): a ticket's outline, drawn once.
static ICONS: LazyLock<[(&str, Vec<u8>); 3]> =
    LazyLock::new(|| [("icon.png", icon(29)), ("icon@2x.png", icon(58)), ("icon@3x.png", icon(87))]);

/// A `side`-pixel square icon: a dark ticket with a notch on either side.
fn icon(side: u32) -> Vec<u8> {
    let s = side as f32;
    let mut pixels = Vec::with_capacity((side * side * 4) as usize);
    for y in 0..side {
        for x in 0..side {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside = fy > s * 0.22 && fy < s * 0.78 && fx > s * 0.08 && fx < s * 0.92;
            let notch = ((fx - s * 0.08).powi(2) + (fy - s * 0.5).powi(2)).sqrt() < s * 0.1
                || ((fx - s * 0.92).powi(2) + (fy - s * 0.5).powi(2)).sqrt() < s * 0.1;
            let alpha = if inside && !notch { 255 } else { 0 };
            pixels.extend_from_slice(&[17, 24, 39, alpha]);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("a PNG header is written to memory");
        writer.write_image_data(&pixels).expect("the icon's pixels fit its size");
    }
    out
}
