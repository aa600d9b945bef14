//! Rate limits: GCRA (the generic cell rate algorithm) in one Lua script.
//!
//! Each key keeps a single timestamp, the "theoretical arrival time"; the
//! script reads Redis's own clock, so every API replica agrees. A limit of
//! N per window lets N requests through at once and then one every
//! window/N (`brandur/redis-cell` is the model).

use redis::Script;

use super::{CacheError, Redis};
use crate::config::Limit;

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full quota is back.
    pub reset_secs: u64,
    /// Seconds to wait before the next request can pass (when refused).
    pub retry_after_secs: u64,
}

// Whole microseconds throughout (exact in Lua's doubles), so the arithmetic
// of `remaining` has no rounding surprises.
const GCRA: &str = r#"
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = math.floor(period / limit)
local tolerance = interval * (limit - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if now < tat - tolerance then
  return {0, 0, math.ceil((tat - now) / 1000), math.ceil((tat - tolerance - now) / 1000)}
end
if ARGV[3] == 'peek' then
  return {1, 0, 0, 0}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor((now + tolerance - new_tat) / interval) + 1
if remaining < 0 then remaining = 0 end
return {1, remaining, math.ceil((new_tat - now) / 1000), 0}
"#;

#[derive(Clone)]
pub struct RateLimiter {
    redis: Redis,
    script: Script,
}

impl RateLimiter {
    pub fn new(redis: Redis) -> Self {
        Self { redis, script: Script::new(GCRA) }
    }

    /// Counts one request against `key`.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<Decision, CacheError> {
        self.run(key, limit, "count").await
    }

    /// Whether one more would pass, counting nothing (for limits on
    /// failures, which are counted only once they have happened).
    pub async fn peek(&self, key: &str, limit: Limit) -> Result<Decision, CacheError> {
        self.run(key, limit, "peek").await
    }

    /// Gives `key` its whole quota back.
    pub async fn reset(&self, key: &str) -> Result<(), CacheError> {
        self.redis.query(redis::pipe().cmd("DEL").arg(self.redis.key(&format!("rate:{key}"))).ignore()).await
    }

    /// Remembers `member` in the set `set` for `ttl` (renewed on each call).
    pub async fn remember(&self, set: &str, member: &str, ttl: std::time::Duration) -> Result<(), CacheError> {
        let key = self.redis.key(&format!("known:{set}"));
        let mut pipe = redis::pipe();
        pipe.cmd("SADD").arg(&key).arg(member).ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(ttl.as_secs()).ignore();
        self.redis.query(&pipe).await
    }

    pub async fn is_remembered(&self, set: &str, member: &str) -> Result<bool, CacheError> {
        let key = self.redis.key(&format!("known:{set}"));
        let (known,): (bool,) = self.redis.query(redis::pipe().cmd("SISMEMBER").arg(key).arg(member)).await?;
        Ok(known)
    }

    async fn run(&self, key: &str, limit: Limit, mode: &str) -> Result<Decision, CacheError> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.redis.key(&format!("rate:{key}")))
            .arg(limit.period.as_micros() as u64)
            .arg(limit.count)
            .arg(mode);
        let (allowed, remaining, reset_ms, retry_ms): (i64, i64, i64, i64) = self.redis.invoke(&invocation).await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit: limit.count,
            remaining: remaining.max(0) as u32,
            reset_secs: (reset_ms.max(0) as u64).div_ceil(1000),
            retry_after_secs: (retry_ms.max(0) as u64).div_ceil(1000).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_parse_from_count_per_seconds() {
        assert_eq!(Limit::parse("300/60").unwrap(), Limit { count: 300, period: Duration::from_secs(60) });
        for bad in ["", "300", "0/60", "5/0", "x/60", "5/100000"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
    }
}
