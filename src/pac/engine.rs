//! The PAC script in QuickJS (rquickjs): compiled once, `FindProxyForURL` called per URL,
//! under a time bound (an interrupt handler) and a memory bound (the runtime's limit).

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Runtime, Value};

use super::error::{PacError, PacLine, Resolve};

/// The standard PAC functions, in JavaScript over four host functions.
const PRELUDE: &str = include_str!("prelude.js");

/// How long and how much one PAC file may take.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// For compiling the script, and again for each call of `FindProxyForURL`.
    pub time: Duration,
    /// The JavaScript heap.
    pub memory: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            time: Duration::from_millis(1500),
            memory: 64 << 20,
        }
    }
}

/// What the PAC functions see of the machine: the vantage's resolver and its addresses.
#[derive(Clone)]
pub struct HostEnv {
    /// `dnsResolve` and friends: every address of a name, through the vantage's resolver.
    pub resolve: Resolve,
    /// `myIpAddress` and `myIpAddressEx`: the vantage's own addresses, most likely first.
    pub my_addresses: Vec<IpAddr>,
}

impl HostEnv {
    /// Names that are IP literals resolve to themselves, `localhost` to the loopback
    /// addresses, every other name to nothing; `my_addresses` as given. For tests and
    /// benchmarks that must reach no resolver.
    pub fn offline(my_addresses: Vec<IpAddr>) -> HostEnv {
        HostEnv {
            resolve: std::sync::Arc::new(|name: &str| {
                if let Ok(ip) = name.trim_matches(['[', ']']).parse::<IpAddr>() {
                    return vec![ip];
                }
                if name.eq_ignore_ascii_case("localhost") {
                    return vec![IpAddr::from([127, 0, 0, 1])];
                }
                Vec::new()
            }),
            my_addresses,
        }
    }
}

/// A compiled PAC file, ready to answer for URLs. Not `Send`: build and use it on one thread
/// (a blocking task).
pub struct Engine {
    _runtime: Runtime,
    context: Context,
    deadline: Rc<Cell<Instant>>,
    limits: EngineLimits,
    /// What its functions see, kept to compile copies of the script ([`Engine::traced_line`]).
    env: HostEnv,
    /// The script defines `FindProxyForURLEx`, which Windows prefers.
    ex: bool,
}

impl Engine {
    /// Compiles `script` (named `name` in messages) with the standard functions.
    pub fn compile(script: &str, env: HostEnv, limits: EngineLimits) -> Result<Engine, PacError> {
        let engine_err = |e: rquickjs::Error| PacError::Engine { why: e.to_string() };
        let runtime = Runtime::new().map_err(engine_err)?;
        runtime.set_memory_limit(limits.memory);
        runtime.set_max_stack_size(512 * 1024);
        let deadline = Rc::new(Cell::new(Instant::now() + limits.time));
        let seen = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > seen.get())));
        let context = Context::full(&runtime).map_err(engine_err)?;
        let ex = context.with(|ctx| -> Result<bool, PacError> {
            install_host_functions(&ctx, env.clone(), deadline.clone()).map_err(engine_err)?;
            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some("prelude.js".into());
            ctx.eval_with_options::<(), _>(PRELUDE, options)
                .map_err(|e| PacError::Engine {
                    why: format!("the PAC functions: {}", exception_text(&ctx, e)),
                })?;
            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some("pac.js".into());
            if let Err(e) = ctx.eval_with_options::<(), _>(script, options) {
                return Err(classify(&ctx, e, "the PAC file", &deadline, limits));
            }
            let globals = ctx.globals();
            let defined = |name: &str| {
                globals
                    .get::<_, Value>(name)
                    .map(|v| v.is_function())
                    .unwrap_or(false)
            };
            if defined("FindProxyForURLEx") {
                Ok(true)
            } else if defined("FindProxyForURL") {
                Ok(false)
            } else {
                Err(PacError::NoFunction)
            }
        })?;
        Ok(Engine {
            _runtime: runtime,
            context,
            deadline,
            limits,
            env,
            ex,
        })
    }

    /// Finds which of several `return` lines of `script` (the script this engine compiled)
    /// gave `answer`: a copy of the script per candidate line, its literal swapped for a
    /// marker, compiled once and asked per URL ([`Tracer::line`]).
    pub fn tracer(&self, script: &str, answer: &str) -> Tracer {
        let lines: Vec<&str> = script.lines().collect();
        let mut copies = Vec::new();
        for (n, text) in lines.iter().enumerate() {
            let Some((quoted, marker)) = ['"', '\'']
                .into_iter()
                .map(|q| (format!("{q}{answer}{q}"), format!("__sipa_line_{n}__")))
                .find(|(quoted, _)| text.contains("return") && text.contains(quoted.as_str()))
            else {
                continue;
            };
            let quote = &quoted[..1];
            let mut copy = lines.clone();
            let swapped = text.replacen(&quoted, &format!("{quote}{marker}{quote}"), 1);
            copy[n] = &swapped;
            if let Ok(engine) = Engine::compile(&copy.join("\n"), self.env.clone(), self.limits) {
                let line = PacLine {
                    line: n as u32 + 1,
                    text: text.trim().to_string(),
                };
                copies.push((line, marker, engine));
            }
        }
        Tracer { copies }
    }

    /// `FindProxyForURL(url, host)` (`FindProxyForURLEx` when defined, as Windows does): the
    /// answer, which must be a string.
    pub fn find_proxy(&self, url: &str, host: &str) -> Result<String, PacError> {
        self.deadline.set(Instant::now() + self.limits.time);
        self.context.with(|ctx| {
            let name = if self.ex {
                "FindProxyForURLEx"
            } else {
                "FindProxyForURL"
            };
            let function: Function = ctx.globals().get(name).map_err(|_| PacError::NoFunction)?;
            let answer: Value = match function.call((url, host)) {
                Ok(v) => v,
                Err(e) => return Err(classify(&ctx, e, url, &self.deadline, self.limits)),
            };
            match answer.as_string() {
                Some(s) => s
                    .to_string()
                    .map_err(|e| PacError::Engine { why: e.to_string() }),
                None => Err(PacError::NotAString {
                    url: url.to_string(),
                    got: describe(&answer),
                }),
            }
        })
    }
}

/// Copies of a PAC file, one per `return` line of one answer, each with that line's literal
/// swapped for a marker ([`Engine::tracer`]).
pub struct Tracer {
    copies: Vec<(PacLine, String, Engine)>,
}

impl Tracer {
    /// The line whose `return` gave the answer for this URL: the copy that answers its marker.
    /// `None` when none does (the answer is built, not a literal).
    pub fn line(&self, url: &str, host: &str) -> Option<PacLine> {
        self.copies
            .iter()
            .find(|(_, marker, engine)| engine.find_proxy(url, host).is_ok_and(|a| a == *marker))
            .map(|(line, _, _)| line.clone())
    }
}

fn install_host_functions(
    ctx: &Ctx<'_>,
    env: HostEnv,
    deadline: Rc<Cell<Instant>>,
) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    // Time spent waiting for the resolver is not the script's: the bound moves by as much.
    let inner = env.resolve.clone();
    let resolve_timed = move |host: &str| {
        let asked = Instant::now();
        let found = inner(host);
        deadline.set(deadline.get() + asked.elapsed());
        found
    };
    let timed = Rc::new(resolve_timed);
    let resolve = timed.clone();
    globals.set(
        "__sipa_resolve",
        Function::new(ctx.clone(), move |host: String| -> Option<String> {
            resolve(&host)
                .into_iter()
                .find(IpAddr::is_ipv4)
                .map(|ip| ip.to_string())
        })?,
    )?;
    let resolve = timed;
    globals.set(
        "__sipa_resolve_ex",
        Function::new(ctx.clone(), move |host: String| -> String {
            join(&resolve(&host))
        })?,
    )?;
    let mine = env.my_addresses.clone();
    globals.set(
        "__sipa_my_ip",
        Function::new(ctx.clone(), move || -> String {
            mine.iter()
                .find(|ip| ip.is_ipv4())
                .map_or_else(|| "127.0.0.1".to_string(), ToString::to_string)
        })?,
    )?;
    let mine = env.my_addresses;
    globals.set(
        "__sipa_my_ip_ex",
        Function::new(ctx.clone(), move || -> String { join(&mine) })?,
    )?;
    Ok(())
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

/// A JavaScript value as a message names it: `undefined`, `null`, `a number (3)`…
fn describe(v: &Value<'_>) -> String {
    if v.is_undefined() {
        "undefined".into()
    } else if v.is_null() {
        "null".into()
    } else if let Some(b) = v.as_bool() {
        format!("a boolean ({b})")
    } else if let Some(n) = v.as_number() {
        format!("a number ({n})")
    } else if v.is_array() {
        "an array".into()
    } else if v.is_function() {
        "a function".into()
    } else {
        "an object".into()
    }
}

/// An error the engine raised, as the PAC problem it stands for.
fn classify(
    ctx: &Ctx<'_>,
    e: rquickjs::Error,
    url: &str,
    deadline: &Cell<Instant>,
    limits: EngineLimits,
) -> PacError {
    if Instant::now() > deadline.get() {
        return PacError::TooSlow {
            url: url.to_string(),
            limit_ms: limits.time.as_millis() as u64,
        };
    }
    let oom = |message: &str| message.contains("out of memory");
    if !matches!(e, rquickjs::Error::Exception) {
        let why = e.to_string();
        return if oom(&why) {
            PacError::TooMuchMemory {
                url: url.to_string(),
                limit_mib: limits.memory >> 20,
            }
        } else {
            PacError::Threw {
                url: url.to_string(),
                message: why,
            }
        };
    }
    let thrown = ctx.catch();
    let (name, message, line, column) = match thrown.as_object() {
        Some(obj) => (
            obj.get::<_, Option<String>>("name").ok().flatten(),
            obj.get::<_, Option<String>>("message").ok().flatten(),
            obj.get::<_, Option<u32>>("lineNumber").ok().flatten(),
            obj.get::<_, Option<u32>>("columnNumber").ok().flatten(),
        ),
        None => (None, None, None, None),
    };
    let message = message.unwrap_or_else(|| {
        thrown
            .as_string()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| describe(&thrown))
    });
    if oom(&message) {
        return PacError::TooMuchMemory {
            url: url.to_string(),
            limit_mib: limits.memory >> 20,
        };
    }
    if name.as_deref() == Some("SyntaxError") {
        let stack = thrown
            .as_object()
            .and_then(|o| o.get::<_, Option<String>>("stack").ok().flatten())
            .unwrap_or_default();
        let (l, c) = position_in(&stack);
        return PacError::Syntax {
            message,
            line: line.or(l).unwrap_or(0),
            column: column.or(c).unwrap_or(0),
        };
    }
    PacError::Threw {
        url: url.to_string(),
        message: match name {
            Some(name) => format!("{name}: {message}"),
            None => message,
        },
    }
}

/// `pac.js:3:7` in a stack trace: the line and column.
fn position_in(stack: &str) -> (Option<u32>, Option<u32>) {
    let Some(at) = stack.find("pac.js:") else {
        return (None, None);
    };
    let mut nums = stack[at + "pac.js:".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse::<u32>().ok());
    (nums.next().flatten(), nums.next().flatten())
}

fn exception_text(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if matches!(e, rquickjs::Error::Exception) {
        let thrown = ctx.catch();
        if let Some(ex) = thrown.as_exception() {
            return ex.message().unwrap_or_default();
        }
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(script: &str) -> Result<Engine, PacError> {
        let limits = EngineLimits {
            time: Duration::from_millis(500),
            memory: 16 << 20,
        };
        Engine::compile(
            script,
            HostEnv::offline(vec![IpAddr::from([127, 0, 0, 9])]),
            limits,
        )
    }

    fn answer(script: &str, url: &str, host: &str) -> Result<String, PacError> {
        compile(script)?.find_proxy(url, host)
    }

    #[test]
    fn the_standard_functions_answer() {
        let script = r#"
function FindProxyForURL(url, host) {
  if (isInNetEx(host, "2001:db8::/32")) return "PROXY v6:1";
  if (isPlainHostName(host)) return "DIRECT; plain";
  if (dnsDomainIs(host, ".windows.net") && shExpMatch(url, "https://login.*")) return "PROXY 127.0.0.1:3128";
  if (isInNet(host, "127.0.0.0", "255.0.0.0")) return "PROXY lo:1";
  if (host == "me") return myIpAddress();
  return "DIRECT";
}"#;
        assert_eq!(
            answer(script, "http://intranet/", "intranet").unwrap(),
            "DIRECT; plain"
        );
        assert_eq!(
            answer(script, "https://login.windows.net/", "login.windows.net").unwrap(),
            "PROXY 127.0.0.1:3128"
        );
        assert_eq!(
            answer(script, "http://127.0.0.5/", "127.0.0.5").unwrap(),
            "PROXY lo:1"
        );
        assert_eq!(
            answer(script, "http://[2001:db8::1]/", "2001:db8::1").unwrap(),
            "PROXY v6:1"
        );
        assert_eq!(answer(script, "http://x.y/", "x.y").unwrap(), "DIRECT");
        let me = "function FindProxyForURL(u, h) { return myIpAddress() + '|' + myIpAddressEx() + '|' + dnsResolveEx('::1') + '|' + sortIpAddressList('10.0.0.2;::1;10.0.0.1'); }";
        assert_eq!(
            answer(me, "http://a/", "a").unwrap(),
            "127.0.0.9|127.0.0.9|::1|::1;10.0.0.1;10.0.0.2"
        );
    }

    #[test]
    fn find_proxy_for_url_ex_is_preferred_as_windows_does() {
        let script = "function FindProxyForURL(u, h) { return 'DIRECT'; }\nfunction FindProxyForURLEx(u, h) { return 'PROXY ex:1'; }";
        assert_eq!(answer(script, "http://a/", "a").unwrap(), "PROXY ex:1");
    }

    #[test]
    fn bad_scripts_are_typed_errors_never_answers() {
        match answer(
            "function FindProxyForURL(u, h) {\n  return 'DIRECT'\n  if (\n}",
            "http://a/",
            "a",
        ) {
            Err(PacError::Syntax { line, .. }) => assert!(line >= 3, "line {line}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            answer("function Find(u, h) { return 'DIRECT'; }", "http://a/", "a"),
            Err(PacError::NoFunction)
        );
        assert!(matches!(
            answer(
                "function FindProxyForURL(u, h) { return 42; }",
                "http://a/",
                "a"
            ),
            Err(PacError::NotAString { .. })
        ));
        assert!(matches!(
            answer(
                "function FindProxyForURL(u, h) { throw new Error('boom'); }",
                "http://a/",
                "a"
            ),
            Err(PacError::Threw { .. })
        ));
    }

    #[test]
    fn endless_loops_and_endless_allocations_end_in_time() {
        let started = Instant::now();
        assert!(matches!(
            answer(
                "function FindProxyForURL(u, h) { while (true) {} }",
                "http://a/",
                "a"
            ),
            Err(PacError::TooSlow { .. })
        ));
        assert!(matches!(
            answer(
                "function FindProxyForURL(u, h) { for (;;) { try { while (true) {} } catch (e) {} } }",
                "http://a/",
                "a"
            ),
            Err(PacError::TooSlow { .. })
        ));
        let r = answer(
            "function FindProxyForURL(u, h) { var a = []; while (true) { a.push(new Array(100000).fill('x' + a.length)); } }",
            "http://a/",
            "a",
        );
        assert!(
            matches!(
                r,
                Err(PacError::TooMuchMemory { .. }) | Err(PacError::TooSlow { .. })
            ),
            "{r:?}"
        );
        // QuickJS caps a string's length before the heap: an error all the same.
        let r = answer(
            "var s = 'x'; while (true) { s = s + s; }\nfunction FindProxyForURL(u, h) { return 'DIRECT'; }",
            "http://a/",
            "a",
        );
        assert!(
            matches!(
                r,
                Err(PacError::TooMuchMemory { .. })
                    | Err(PacError::TooSlow { .. })
                    | Err(PacError::Threw { .. })
            ),
            "{r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
