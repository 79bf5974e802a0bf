//! A polite HTTP client for CT logs: a user agent naming this tool,
//! bounded bodies, a request rate limit, and retries with exponential
//! backoff and jitter on 429, 5xx, timeouts and cut-off bodies, honouring
//! `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use rand::Rng;
use std::io::Read;

/// What a request failed with, after its retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The server answered with a status that is not retried (404, 403...).
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Retries ran out on a transient failure.
    #[error("GET {url}: {why} (after {attempts} attempts)")]
    GaveUp {
        /// The URL.
        url: String,
        /// The last failure.
        why: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The body is larger than allowed.
    #[error("GET {url}: the body is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests per second at most (0: no limit).
    pub rate: f64,
    /// Attempts per request (the first included).
    pub attempts: u32,
    /// The first backoff; it doubles per retry (with jitter), up to `max_backoff`.
    pub backoff: Duration,
    /// The longest wait between attempts (and the most `Retry-After` is honoured).
    pub max_backoff: Duration,
    /// Each request's timeout.
    pub timeout: Duration,
    /// The largest body accepted (decompressed).
    pub max_body: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            rate: 0.0,
            attempts: 8,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
            max_body: 256 << 20,
        }
    }
}

/// The user agent: this tool and its version.
pub fn user_agent() -> String {
    format!(
        "pipeline/{} (certificate transparency dataset tool)",
        env!("CARGO_PKG_VERSION")
    )
}

/// An HTTP client shared by a fetch's requests.
pub struct Client {
    inner: reqwest::Client,
    opts: ClientOptions,
    /// When the next request may start (the rate limit).
    next_slot: Mutex<Instant>,
}

impl Client {
    /// A client with `opts`.
    pub fn new(opts: ClientOptions) -> Result<Self, String> {
        let inner = reqwest::Client::builder()
            .user_agent(user_agent())
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self {
            inner,
            opts,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this request's slot under the rate limit.
    async fn pace(&self) {
        if self.opts.rate <= 0.0 {
            return;
        }
        let gap = Duration::from_secs_f64(1.0 / self.opts.rate);
        let start = {
            let mut next = self.next_slot.lock().expect("not poisoned");
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + gap;
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }

    /// The body of `url` (gzip content-encoding undone), retrying
    /// transient failures. `Ok(None)` is a 404.
    pub async fn get(&self, url: &str) -> Result<Option<Vec<u8>>, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace().await;
            let wait = match self.once(url).await {
                Ok(Outcome::Body(b)) => return Ok(Some(b)),
                Ok(Outcome::NotFound) => return Ok(None),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient { why, retry_after }) => {
                    if attempt >= self.opts.attempts {
                        return Err(HttpError::GaveUp {
                            url: url.to_owned(),
                            why,
                            attempts: attempt,
                        });
                    }
                    retry_after.unwrap_or_else(|| self.backoff(attempt))
                }
            };
            tokio::time::sleep(wait.min(self.opts.max_backoff)).await;
        }
    }

    /// Exponential backoff with full jitter for the `attempt`-th retry.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .opts
            .backoff
            .saturating_mul(1u32 << attempt.min(16).saturating_sub(1))
            .min(self.opts.max_backoff);
        let jitter = rand::rng().random_range(0.5..=1.0);
        base.mul_f64(jitter)
    }

    async fn once(&self, url: &str) -> Result<Outcome, Failure> {
        let transient = |why: String| Failure::Transient {
            why,
            retry_after: None,
        };
        let response = self
            .inner
            .get(url)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip, identity")
            .send()
            .await
            .map_err(|e| transient(describe(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Outcome::NotFound);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Failure::Transient {
                why: format!("HTTP {}", status.as_u16()),
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(Failure::Final(HttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            }));
        }
        let gzip = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let declared = response.content_length();
        let too_large = || {
            Failure::Final(HttpError::TooLarge {
                url: url.to_owned(),
                limit: self.opts.max_body,
            })
        };
        if declared.is_some_and(|n| n > self.opts.max_body as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transient(format!("the body broke off: {}", describe(&e))))?
        {
            if body.len() + chunk.len() > self.opts.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if let Some(n) = declared {
            if body.len() as u64 != n {
                return Err(transient(format!(
                    "the body broke off: {} of {n} bytes",
                    body.len()
                )));
            }
        }
        if gzip {
            let mut out = Vec::new();
            GzDecoder::new(&body[..])
                .take(self.opts.max_body as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| transient(format!("the gzip body is broken: {e}")))?;
            if out.len() > self.opts.max_body {
                return Err(too_large());
            }
            body = out;
        }
        Ok(Outcome::Body(body))
    }
}

enum Outcome {
    Body(Vec<u8>),
    NotFound,
}

enum Failure {
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    Final(HttpError),
}

/// A reqwest error with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
