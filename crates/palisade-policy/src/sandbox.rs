//! Runs Rego rules under a resource budget.
//!
//! regorus 0.14's interpreter has a cooperative wall-clock timer but no instruction budget and
//! no allocation limit its builtins respect (`numbers.range(1, 1000000000)` is one call that
//! allocates gigabytes; a chain of `concat` grows strings exponentially). So rules run in a
//! **worker process**: the same binary started with a hidden argument (the `palisade` CLI
//! installs itself with [`install_rule_worker`]; a server does the same). The worker lowers its
//! own address-space limit (`RLIMIT_AS`) and CPU-time limit (`RLIMIT_CPU`) before it reads
//! anything, then evaluates each rule in turn and reports on stdout; the parent kills it at a
//! wall-clock deadline. A worker that dies is mapped to an error naming the rule that was
//! running: memory, stack, CPU time or deadline. Every failure is an error, never an empty
//! result, so a gate that called it fails closed.
//!
//! Without an installed worker (library users, this crate's own tests) rules run in-process
//! with the wall-clock timer only.

use std::ffi::OsString;
use std::io::{BufRead as _, Read, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::rego::{RegoRule, RuleOutput, evaluate_module};

/// The limits one evaluation of a policy's rules runs under (all of its rules together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleBudget {
    /// Address space of the worker process (`RLIMIT_AS`), in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline for the whole evaluation (the worker is killed after it), and the
    /// cooperative time limit of each rule inside it.
    pub timeout: Duration,
    /// CPU seconds of the worker (`RLIMIT_CPU`): the step budget, since regorus's interpreter
    /// counts no instructions.
    pub cpu_seconds: u64,
    /// The most bytes of results the worker may report (messages of every rule together).
    pub output_bytes: usize,
}

/// Default address space of the rule worker: 384 MiB.
pub const DEFAULT_RULE_MEMORY_BYTES: u64 = 384 << 20;
/// Default wall-clock deadline of one evaluation: 10 s.
pub const DEFAULT_RULE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default CPU-time budget of one evaluation: 10 s.
pub const DEFAULT_RULE_CPU_SECONDS: u64 = 10;
/// Default cap on the results a worker reports: 8 MiB.
pub const DEFAULT_RULE_OUTPUT_BYTES: usize = 8 << 20;
/// The worker's standard error kept for diagnosis.
const STDERR_BYTES: u64 = 64 << 10;

impl Default for RuleBudget {
    fn default() -> RuleBudget {
        RuleBudget {
            memory_bytes: DEFAULT_RULE_MEMORY_BYTES,
            timeout: DEFAULT_RULE_TIMEOUT,
            cpu_seconds: DEFAULT_RULE_CPU_SECONDS,
            output_bytes: DEFAULT_RULE_OUTPUT_BYTES,
        }
    }
}

/// How to start the rule worker: `program args… MEMORY_BYTES CPU_SECONDS`, whose `main` calls
/// [`rule_worker_main`] when it sees `args`.
#[derive(Debug, Clone)]
pub struct RuleWorker {
    /// The program (usually `std::env::current_exe()`).
    pub program: PathBuf,
    /// The arguments that select the worker (a hidden subcommand).
    pub args: Vec<OsString>,
    /// The limits.
    pub budget: RuleBudget,
}

static WORKER: OnceLock<RuleWorker> = OnceLock::new();

/// Installs the process-wide rule worker; every later load and evaluation runs its rules there.
/// Returns `false` (and changes nothing) when one was installed already.
pub fn install_rule_worker(worker: RuleWorker) -> bool {
    WORKER.set(worker).is_ok()
}

/// What one rule's run came to.
pub(crate) enum RuleRun {
    Done(RuleOutput),
    /// regorus's error text (with its `--> FILE:LINE:COL` when it has one).
    Failed(String),
    /// A budget was exceeded or the worker failed: the message says which.
    Budget(String),
}

#[derive(Serialize, Deserialize)]
struct Request {
    modules: Vec<Module>,
    input: Option<String>,
    timeout_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Module {
    label: String,
    source: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    Begin(usize),
    Done(usize, RuleOutput),
    Failed(usize, String),
}

/// Runs every rule (with `input`, or the trial run without input), one result per rule.
pub(crate) fn run_rules(rules: &[RegoRule], input: Option<&str>) -> Vec<RuleRun> {
    match WORKER.get() {
        Some(worker) => run_in_worker(worker, rules, input),
        None => rules
            .iter()
            .map(
                |r| match evaluate_module(&r.label, &r.source, input, DEFAULT_RULE_TIMEOUT) {
                    Ok(out) => RuleRun::Done(out),
                    Err(e) if is_time_limit(&e) => RuleRun::Budget(format!(
                        "exceeded its time budget of {} s",
                        DEFAULT_RULE_TIMEOUT.as_secs()
                    )),
                    Err(e) => RuleRun::Failed(e),
                },
            )
            .collect(),
    }
}

fn is_time_limit(e: &str) -> bool {
    e.contains("exceeded time limit")
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

fn run_in_worker(worker: &RuleWorker, rules: &[RegoRule], input: Option<&str>) -> Vec<RuleRun> {
    let budget = worker.budget;
    let fail_all = |msg: String| -> Vec<RuleRun> {
        rules.iter().map(|_| RuleRun::Budget(msg.clone())).collect()
    };
    if rules.is_empty() {
        return Vec::new();
    }
    let request = Request {
        modules: rules
            .iter()
            .map(|r| Module {
                label: r.label.clone(),
                source: r.source.clone(),
            })
            .collect(),
        input: input.map(str::to_owned),
        timeout_ms: u64::try_from(budget.timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let Ok(request) = serde_json::to_vec(&request) else {
        return fail_all("could not encode the request for the rule worker".to_owned());
    };
    let mut cmd = Command::new(&worker.program);
    cmd.args(&worker.args)
        .arg(budget.memory_bytes.to_string())
        .arg(budget.cpu_seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "0")
        // mimalloc (the binary's allocator) reserves a 1 GiB arena before `main` runs, so
        // before the worker lowers its RLIMIT_AS: pages it then touches inside that
        // reservation need no new mapping and escape the limit (a rule reached 580 MB under
        // a 384 MiB budget). A small reservation keeps the budget what it says.
        .env("MIMALLOC_ARENA_RESERVE", "16MiB");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail_all(format!(
                "could not start the rule worker {}: {e}",
                worker.program.display()
            ));
        }
    };
    let start = Instant::now();
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A worker that died early closes the pipe; its exit status says why.
            let _ = stdin.write_all(&request);
        }
    });
    let stdout = child.stdout.take();
    let cap = budget.output_bytes as u64;
    let reader = std::thread::spawn(move || {
        let mut reports = Vec::new();
        let mut overflow = false;
        if let Some(out) = stdout {
            let mut limited = std::io::BufReader::new(out.take(cap + 1));
            let mut line = String::new();
            let mut total = 0u64;
            loop {
                line.clear();
                match limited.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
                if total > cap {
                    overflow = true;
                    break;
                }
                if let Ok(r) = serde_json::from_str::<Report>(&line) {
                    reports.push(r);
                }
            }
        }
        (reports, overflow)
    });
    let stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(err) = stderr {
            let _ = err.take(STDERR_BYTES).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if start.elapsed() > budget.timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let (reports, overflow) = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();

    let mut results: Vec<Option<RuleRun>> = rules.iter().map(|_| None).collect();
    let mut running = None;
    for r in reports {
        match r {
            Report::Begin(i) => running = Some(i),
            Report::Done(i, out) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(RuleRun::Done(out));
                }
                running = None;
            }
            Report::Failed(i, e) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(if is_time_limit(&e) {
                        RuleRun::Budget(format!(
                            "exceeded its time budget of {} s",
                            budget.timeout.as_secs()
                        ))
                    } else {
                        RuleRun::Failed(e)
                    });
                }
                running = None;
            }
        }
    }
    let success = status.is_some_and(|s| s.success()) && !timed_out && !overflow;
    let why = if overflow {
        format!(
            "reported more than {} MiB of results",
            mib(budget.output_bytes as u64)
        )
    } else if timed_out {
        format!("exceeded its time budget of {} s", budget.timeout.as_secs())
    } else if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
        format!(
            "exceeded its memory budget of {} MiB",
            mib(budget.memory_bytes)
        )
    } else if stderr.contains("overflowed its stack") {
        "exceeded the stack budget (recursion too deep)".to_owned()
    } else if cpu_limit_signal(status) {
        format!("exceeded its CPU budget of {} s", budget.cpu_seconds)
    } else {
        let detail = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        format!(
            "the rule worker failed ({}): {detail}",
            status.map_or_else(|| "no exit status".to_owned(), |s| s.to_string())
        )
    };
    let why = if success {
        "the rule worker reported no result".to_owned()
    } else {
        why
    };
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(r) => r,
            // The rule that was running when the worker stopped (or all, if none had begun).
            None if running.is_none_or(|r| r == i) => RuleRun::Budget(why.clone()),
            None => RuleRun::Budget(format!("not evaluated: the rule worker stopped ({why})")),
        })
        .collect()
}

#[cfg(unix)]
fn cpu_limit_signal(status: Option<std::process::ExitStatus>) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    // SIGXCPU at the soft limit, SIGKILL at the hard one.
    status
        .and_then(|s| s.signal())
        .is_some_and(|sig| sig == nix::sys::signal::Signal::SIGXCPU as i32)
}

#[cfg(not(unix))]
fn cpu_limit_signal(_: Option<std::process::ExitStatus>) -> bool {
    false
}

/// The worker's side: lowers its own limits, reads one request on stdin, evaluates each module
/// in turn and writes one JSON line before and after each. `args` are what follows the hidden
/// subcommand: `MEMORY_BYTES CPU_SECONDS`. Returns the process exit code.
pub fn rule_worker_main(args: &[OsString]) -> u8 {
    let arg = |i: usize| -> Option<u64> { args.get(i)?.to_str()?.parse().ok() };
    let (Some(memory), Some(cpu)) = (arg(0), arg(1)) else {
        return 2;
    };
    if set_limits(memory, cpu).is_err() {
        return 2;
    }
    let mut text = Vec::new();
    if std::io::stdin().lock().read_to_end(&mut text).is_err() {
        return 2;
    }
    let Ok(request) = serde_json::from_slice::<Request>(&text) else {
        return 2;
    };
    drop(text);
    let timeout = Duration::from_millis(request.timeout_ms);
    let mut out = std::io::stdout().lock();
    for (i, m) in request.modules.iter().enumerate() {
        if write_report(&mut out, &Report::Begin(i)).is_err() {
            return 2;
        }
        let report = match evaluate_module(&m.label, &m.source, request.input.as_deref(), timeout) {
            Ok(o) => Report::Done(i, o),
            Err(e) => Report::Failed(i, e),
        };
        if write_report(&mut out, &report).is_err() {
            return 2;
        }
    }
    0
}

fn write_report(out: &mut impl std::io::Write, r: &Report) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, r)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(unix)]
fn set_limits(memory: u64, cpu: u64) -> Result<(), nix::Error> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_AS, memory, memory)?;
    setrlimit(Resource::RLIMIT_CPU, cpu, cpu.saturating_add(1))
}

#[cfg(not(unix))]
fn set_limits(_: u64, _: u64) -> Result<(), std::io::Error> {
    Ok(())
}
