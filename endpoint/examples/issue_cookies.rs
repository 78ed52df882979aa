//! A backend service issuing CloudFront cookies and a signed URL for one of its users.
//!
//!     # with the keys the rotator keeps in Secrets Manager:
//!     CFCOOKIE_SECRET_ID=media/cfcookie/signing-key cargo run -p cfcookie-endpoint --example issue_cookies
//!     # or with a key file:
//!     cargo run -p cfcookie-endpoint --example issue_cookies -- ../signer/tests/data/rsa2048.pkcs8.pem K2JCJMDEHXQW5F

use std::time::Duration;

use cfcookie_endpoint::Issuer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let issuer = match (
        args.first(),
        args.get(1),
        std::env::var("CFCOOKIE_SECRET_ID"),
    ) {
        (Some(file), Some(key_id), _) => Issuer::from_key_file(file, key_id)?,
        (_, _, Ok(secret)) => Issuer::from_env(&secret).await?,
        _ => return Err("give KEY_FILE KEY_PAIR_ID, or set CFCOOKIE_SECRET_ID".into()),
    };
    // User 42 may read their own folder for 15 minutes.
    let issued = issuer.cookies(
        "https://media.example.com/users/42/*",
        Duration::from_secs(900),
    )?;
    for header in &issued.set_cookie {
        println!("Set-Cookie: {header}");
    }
    // One file, as a link in an e-mail.
    println!(
        "{}",
        issuer.signed_url(
            "https://media.example.com/users/42/report.pdf",
            Duration::from_secs(3600)
        )?
    );
    Ok(())
}
