-- Networks: abusive address ranges and request rates. Bank (`vigil bank`; bench/events
-- writes it): abusive-networks (ip: addresses and CIDR ranges, IPv4 and IPv6).

-- Anything from an abusive range is blocked, whatever the event.
rule("abusive-network", function(e)
	if e.ip and match("abusive-networks", e.ip) then
		verdict("block", e.ip .. " is in the abusive-networks bank")
	end
end)

-- Request rate: past 1,000 HTTP requests from one address in ten seconds, every
-- request is challenged.
rule("request-rate", {on = "http"}, function(e)
	if count("requests", e.ip, "10s") > 1000 then
		verdict("challenge", "over 1000 requests from " .. e.ip .. " in 10s")
	end
end)

-- A stricter limit on trial: 500 in ten seconds, in shadow mode so its verdicts are
-- counted next to request-rate's before it replaces it. It reads request-rate's counter
-- (defined above, so it runs first and has counted this request) without counting again.
rule("request-rate-trial", {on = "http", shadow = true}, function(e)
	if counted("requests", e.ip, "10s") > 500 then
		verdict("challenge", "over 500 requests from " .. e.ip .. " in 10s")
	end
end)
