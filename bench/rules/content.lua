-- Content: known-bad images, upload floods and phishing links. Banks (`vigil bank`;
-- bench/events writes them): known-images (pdq), phish-urls (url), phish-domains
-- (domain). The events:
--   {"type":"upload","ip":"...","user":{"id":"u42"},"pdq":"<64 hex>","size":..,"mime":..}
--   {"type":"http","ip":"...","host":"...","url":"https://...",...}
--   {"type":"message","ip":"...","user":{"id":"u42"},"to":"u7","url":"https://..."}

-- An image within PDQ distance of a known-images hash is reported to the authorities
-- and its uploader labelled for 30 days; the uploader's later uploads go to review.
rule("known-image", {on = "upload"}, function(e)
	if not e.user then return end
	if e.pdq and match("known-images", e.pdq) then
		verdict("report", "image matches the known-images bank")
		label("user", e.user.id, "known-image-uploader", "30d")
	elseif has_label("user", e.user.id, "known-image-uploader") then
		verdict("review", "upload by an account that uploaded a known image")
	end
end)

-- Upload floods: an account reaching 50 uploads within a minute goes to review (once
-- as the count passes 50, not for every upload after it).
rule("upload-burst", {on = "upload"}, function(e)
	if e.user and count("uploads", e.user.id, "1m") == 50 then
		verdict("review", "50 uploads by " .. e.user.id .. " within a minute")
	end
end)

-- Phishing: a request for, or a message linking to, a page on the phish-urls list or
-- any page of a domain on the phish-domains list (its subdomains included).
rule("phishing-link", {on = {"http", "message"}}, function(e)
	if not e.url then return end
	if match("phish-urls", e.url) then
		verdict("block", "url on the phish-urls list")
	elseif match("phish-domains", e.url) then
		verdict("block", "domain on the phish-domains list")
	end
end)
