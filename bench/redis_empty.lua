#!lua name=cast
--
-- A FLOOR, NOT THE PRODUCT: bench-only.  cast_votes doing nothing
-- but count its votes as the ticket's uses (one HINCRBY) and answer an
-- empty array: what Redis spends per vote on the request, its ARGV, one
-- command, the AOF and the fsync, without any Lua work of the votes
-- (bench/redis_micro.sh; README, "CPU per accepted vote").
--

local function vote_batch(_, args)
    redis.call('HINCRBY', '{cast}:ticket', 'used', #args / 9)
    return {}
end

redis.register_function('cast_votes', vote_batch)
