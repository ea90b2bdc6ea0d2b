package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is GCRA (the generic cell rate algorithm, a token bucket kept as one
// "theoretical arrival time" per key) over all of a request's buckets. It
// uses Redis's own clock, so replicas with skewed clocks agree. Each key
// KEYS[i] has ARGV[2i-1] = emission interval in µs and ARGV[2i] = burst.
// It takes a token from every bucket or from none, and returns {0, 0} when
// allowed or {i, retry µs} naming the first refusing bucket.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2*i-1])
  local burst = tonumber(ARGV[2*i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    return {i, math.ceil(allow_at - now)}
  end
  tats[i] = new_tat
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, 0}
`)

// takeRedis runs gcra for checks. It returns a *LimitError for a refusal
// and another error when Redis cannot answer.
func (l *Limiter) takeRedis(ctx context.Context, checks []check) error {
	keys := make([]string, len(checks))
	args := make([]any, 0, 2*len(checks))
	for i, c := range checks {
		keys[i] = l.cfg.RedisPrefix + c.scope + ":" + c.id
		interval := 1e6 / c.lim.RPS
		args = append(args, strconv.FormatFloat(interval, 'f', 3, 64), c.lim.burst())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res, err := gcra.Run(ctx, l.cfg.Redis, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 2 || res[0] < 0 || res[0] > int64(len(checks)) {
		return fmt.Errorf("ratelimit: redis: unexpected reply %v", res)
	}
	if res[0] == 0 {
		return nil
	}
	c := checks[res[0]-1]
	return newLimitError(c.scope, time.Duration(res[1])*time.Microsecond, c.lim)
}
