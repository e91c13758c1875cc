mod common;
use common::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let env = Env::start(profile(&std::env::var("P").unwrap_or("fz-0.9".into()))).await;
    let up = env.dir.path().join("small.txt");
    std::fs::write(&up, b"hello\n").unwrap();
    let mut args = env.curl_base();
    for a in std::env::var("ARGS").unwrap_or_default().split_whitespace() { args.push(a.replace("UP", &up.display().to_string())); }
    let url = std::env::var("URL").unwrap().replace("EXP", &env.emu.explicit_addr().port().to_string()).replace("IMP", &env.emu.implicit_addr().port().to_string());
    args.push(url);
    let i = args.iter().position(|a| a == "--max-time").unwrap(); args[i+1] = "8".into();
    let run = curl(&args).await;
    eprintln!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- log\n{}", run.code, run.stdout, run.stderr, env.log_text());
}
