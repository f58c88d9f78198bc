-- Account security: password guessing, credential stuffing, account takeover and new
-- accounts in bulk. The events (see bench/events/gen_events.h):
--   {"type":"login","ip":"...","user":{"id":"u42"},"ok":false,"method":"password"}
--   {"type":"signup","ip":"...","user":{"id":"n7"},"email_domain":"mail.example"}
--   {"type":"upload"|"payment","ip":"...","user":{"id":"u42"},...}
-- Events go to workers by "ip" (the default partition key), so counters keyed by
-- address are exact; the ones keyed by user see the events of that user from
-- addresses on the same worker, which is what an attacker working from one address
-- produces (docs/rules.md, "Workers and partitioning"). Each rule names the event
-- types it is for (`on`), so the others never call it.

-- Password guessing from one address: every failed login from the 10th in five
-- minutes is challenged, from the 30th blocked. Each attempt is decided on its own, so
-- every attempt past a threshold gets the verdict.
rule("failed-logins", {on = "login"}, function(e)
	if e.ok then return end
	local n = count("login-fail", e.ip, "5m")
	if n >= 30 then
		verdict("block", n .. " failed logins from " .. e.ip .. " in 5m")
	elseif n >= 10 then
		verdict("challenge", n .. " failed logins from " .. e.ip .. " in 5m")
	end
end)

-- Credential stuffing: one address trying many accounts. The login that brings an
-- address to 20 accounts in an hour labels it, and the address's logins are blocked for
-- the hour that follows.
rule("credential-stuffing", {on = "login"}, function(e)
	if not e.user then return end
	if has_label("ip", e.ip, "stuffing") then
		verdict("block", e.ip .. " is stuffing credentials")
	elseif distinct("login-users", e.ip, e.user.id, "1h") >= 20 then
		label("ip", e.ip, "stuffing", "1h")
		verdict("block", "20 accounts tried from " .. e.ip .. " within the hour")
	end
end)

-- Account takeover: five failed logins on an account within the hour, then a login
-- that succeeds, marks the account suspect for a day and asks for a second factor.
rule("account-takeover", {on = "login"}, function(e)
	if not e.user then return end
	local id = e.user.id
	if not e.ok then
		if count("login-fail-user", id, "1h") >= 5 then
			label("user", id, "failing-logins", "1h")
		end
	elseif has_label("user", id, "failing-logins") then
		label("user", id, "suspect", "24h")
		verdict("challenge", "login to " .. id .. " after repeated failures")
	end
end)

-- What a suspect account uploads or pays goes to a person before it takes effect.
rule("suspect-activity", {on = {"upload", "payment"}}, function(e)
	if e.user and has_label("user", e.user.id, "suspect") then
		verdict("review", e.type .. " by suspect account " .. e.user.id)
	end
end)

-- New accounts in bulk from one network: from the 10th signup in ten minutes from an
-- IPv4 /24 or an IPv6 /48, every signup is challenged.
local function network(ip)
	return ip:match("^(%d+%.%d+%.%d+)%.%d+$") or ip:match("^(%x*:%x*:%x*):")
end

rule("new-account-burst", {on = "signup"}, function(e)
	if not e.ip then return end
	local net = network(e.ip)
	if not net then return end
	local n = count("signups", net, "10m")
	if n >= 10 then
		verdict("challenge", n .. " new accounts from " .. net .. " in 10m")
	end
end)
