//! One full rotation against the emulator, 10 times: median wall time, split into key
//! generation and the rest (AWS calls), and the AWS calls per rotation from the emulator's
//! call log. A bench binary, not a timed test: `cargo bench -p cfcookie-rotator --bench rotation`
//! (with .venv/bin on PATH for the emulator).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cfcookie_rotator::driver::rotate_in_process;
use cfcookie_rotator::ports::{AwsLcKeyGenerator, KeyGenerator, SystemClock};
use cfcookie_rotator::sdk::{SdkKeyRegistry, SdkParameterStore, SdkSecretStore};
use cfcookie_rotator::Rotator;
use cfcookie_testing::emulator::{bootstrap, Emulator};
use cfcookie_testing::NoProbe;

#[derive(Clone, Default)]
struct TimedKeygen(Arc<Mutex<Vec<Duration>>>);

impl KeyGenerator for TimedKeygen {
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError> {
        let t = Instant::now();
        let key = AwsLcKeyGenerator::default().generate();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t.elapsed());
        key
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let emulator = Emulator::start();
    let aws = emulator.sdk_config().await;
    let b = bootstrap(&aws, "bench").await;
    let keygen = TimedKeygen::default();
    let mut config = cfcookie_testing::rotator_config(&b.group, &b.parameter);
    config.key_id_parameters = vec![b.parameter.clone()];
    let rotator: Rotator<(_, _, _, _, _, _)> = Rotator {
        secrets: SdkSecretStore::new(&aws),
        registry: SdkKeyRegistry::new(&aws),
        params: SdkParameterStore::new(&aws),
        keygen: keygen.clone(),
        clock: SystemClock,
        probe: NoProbe,
        config,
    };
    // Two warm-up rotations reach the steady state (a previous key to retire each time).
    for _ in 0..2 {
        rotate_in_process(&rotator, &b.secret, false)
            .await
            .expect("rotate");
    }
    keygen.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let mut totals = Vec::new();
    let mut calls_per_rotation = Vec::new();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..10 {
        emulator.clear_calls();
        let t = Instant::now();
        rotate_in_process(&rotator, &b.secret, false)
            .await
            .expect("rotate");
        totals.push(t.elapsed());
        let calls = emulator.calls();
        calls_per_rotation.push(calls.len());
        for c in calls {
            *by_op.entry(c).or_default() += 1;
        }
    }
    let keygens = keygen.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let total = median(totals.clone());
    let kg = median(keygens.clone());
    println!("rotations: 10 (after 2 warm-up), emulator on loopback");
    println!(
        "total       median {:8.1} ms  (min {:.1}, max {:.1})",
        ms(total),
        ms(*totals.iter().min().expect("n")),
        ms(*totals.iter().max().expect("n"))
    );
    println!(
        "key gen     median {:8.1} ms  (min {:.1}, max {:.1})",
        ms(kg),
        ms(*keygens.iter().min().expect("n")),
        ms(*keygens.iter().max().expect("n"))
    );
    println!(
        "AWS calls   median {:8.1} ms  (total - key generation)",
        ms(total.saturating_sub(kg))
    );
    calls_per_rotation.sort_unstable();
    println!(
        "AWS calls per rotation: {} (min {}, max {})",
        calls_per_rotation[5], calls_per_rotation[0], calls_per_rotation[9]
    );
    for (op, n) in by_op {
        println!("  {op:<45} {:.1}", n as f64 / 10.0);
    }
}
