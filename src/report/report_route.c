/* SPDX-License-Identifier: Apache-2.0
 *
 * Routing of abuse reports (report.h): the per-category policy table, its config text,
 * the pure function from a report and a zone's contacts to notification intents and a
 * case priority, and the dedup key. The step after intake and canonicalisation; the API
 * turns the intents into outbox actions.
 *
 * Invariants, held here whatever the policy says, because a config typo must not put a
 * reporter or a victim at risk: for csam, ncii and terrorism the site owner is never
 * notified before review (a policy naming it is refused, and routing drops it anyway),
 * reporter details never go to anyone, and evidence is always matched. For every
 * category, a party the reporter's share says none for gets nothing, and reporter details
 * go only where share says full.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool restricted(vg_report_category c)
{
	return c == VG_REPORT_CSAM || c == VG_REPORT_NCII || c == VG_REPORT_TERRORISM;
}

const char *vg_report_priority_name(vg_report_priority p)
{
	return p == VG_REPORT_PRIORITY_HIGH ? "high" : p == VG_REPORT_PRIORITY_LOW ? "low" : "normal";
}

void vg_report_policy_default(vg_report_policy *ret)
{
	const unsigned notify = VG_REPORT_ACT_NOTIFY_OWNER | VG_REPORT_ACT_NOTIFY_HOST;
	const unsigned forward = VG_REPORT_ACT_FORWARD_OWNER | VG_REPORT_ACT_FORWARD_HOST;
	for (int c = 0; c < VG_REPORT_NCATEGORIES; c++) {
		vg_report_rule *r = &ret->rules[c];
		if (restricted((vg_report_category)c))
			*r = (vg_report_rule){VG_REPORT_ACT_MATCH_EVIDENCE, VG_REPORT_PRIORITY_HIGH};
		else if (c == VG_REPORT_PHISHING || c == VG_REPORT_MALWARE)
			*r = (vg_report_rule){notify, VG_REPORT_PRIORITY_NORMAL};
		else if (c == VG_REPORT_SPAM)
			*r = (vg_report_rule){notify, VG_REPORT_PRIORITY_LOW};
		else if (c == VG_REPORT_HARASSMENT)
			*r = (vg_report_rule){forward, VG_REPORT_PRIORITY_NORMAL};
		else
			*r = (vg_report_rule){forward, VG_REPORT_PRIORITY_LOW};
	}
}

static const struct {
	const char *name;
	unsigned act;
	int priority; /* -1: not a priority */
} actions[] = {
	{"notify_owner", VG_REPORT_ACT_NOTIFY_OWNER, -1},
	{"notify_host", VG_REPORT_ACT_NOTIFY_HOST, -1},
	{"forward_owner", VG_REPORT_ACT_FORWARD_OWNER, -1},
	{"forward_host", VG_REPORT_ACT_FORWARD_HOST, -1},
	{"match_evidence", VG_REPORT_ACT_MATCH_EVIDENCE, -1},
	{"none", 0, -1},
	{"priority_low", 0, VG_REPORT_PRIORITY_LOW},
	{"priority_normal", 0, VG_REPORT_PRIORITY_NORMAL},
	{"priority_high", 0, VG_REPORT_PRIORITY_HIGH},
};

/* [s, e) without surrounding white space, as a bounded copy. */
static void token(const char *s, const char *e, char *out, size_t size)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	size_t n = (size_t)(e - s) < size - 1 ? (size_t)(e - s) : size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

int vg_report_policy_parse(vg_report_policy *policy, const char *text, size_t len, const char *name,
			   vg_error *err)
{
	vg_report_policy p = *policy;
	const char *end = text + len;
	int lineno = 0;
	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		lineno++;
		const char *hash = memchr(line, '#', (size_t)(le - line));
		const char *ce = hash ? hash : le;
		const char *eq = memchr(line, '=', (size_t)(ce - line));
		char key[32];
		token(line, eq ? eq : ce, key, sizeof(key));
		if (!eq && key[0])
			return vg_error_set(err, VG_EINVAL, "%s:%d: expected `category = action, ...`", name,
					    lineno);
		if (eq) {
			vg_report_category c;
			if (vg_report_category_parse(key, &c))
				return vg_error_set(err, VG_EINVAL, "%s:%d: unknown category '%s'", name,
						    lineno, key);
			vg_report_rule rule = {0, p.rules[c].priority};
			int named = 0;
			for (const char *a = eq + 1; a < ce;) {
				const char *comma = memchr(a, ',', (size_t)(ce - a));
				const char *ae = comma ? comma : ce;
				char act[32];
				token(a, ae, act, sizeof(act));
				size_t i = 0;
				while (i < VG_ARRAY_LEN(actions) && strcmp(act, actions[i].name))
					i++;
				if (i == VG_ARRAY_LEN(actions))
					return vg_error_set(err, VG_EINVAL, "%s:%d: unknown action '%s'", name,
							    lineno, act);
				if (restricted(c) && (actions[i].act & (VG_REPORT_ACT_NOTIFY_OWNER |
									 VG_REPORT_ACT_FORWARD_OWNER)))
					return vg_error_set(err, VG_EINVAL,
							    "%s:%d: %s reports never reach the site owner "
							    "before review",
							    name, lineno, key);
				rule.actions |= actions[i].act;
				if (actions[i].priority >= 0)
					rule.priority = (vg_report_priority)actions[i].priority;
				named++;
				a = comma ? comma + 1 : ce;
			}
			if (!named)
				return vg_error_set(err, VG_EINVAL, "%s:%d: no action for %s (write none)",
						    name, lineno, key);
			p.rules[c] = rule;
		}
		line = nl ? nl + 1 : end;
	}
	*policy = p;
	return 0;
}

static bool set(const char *s)
{
	return s && s[0];
}

static void add_party(vg_report_route *ret, vg_report_party party, const vg_report_contact *c,
		      vg_report_share share, bool forward, bool may_share_reporter)
{
	if (share == VG_REPORT_SHARE_NONE || (!set(c->webhook_url) && !set(c->email)))
		return;
	vg_report_intent *in = &ret->intents[ret->n_intents++];
	in->party = party;
	in->channel = set(c->webhook_url) ? VG_REPORT_CHANNEL_WEBHOOK : VG_REPORT_CHANNEL_EMAIL;
	in->target = set(c->webhook_url) ? c->webhook_url : c->email;
	in->forward = forward;
	in->include_reporter = may_share_reporter && share == VG_REPORT_SHARE_FULL;
}

void vg_report_route_compute(const vg_report_policy *policy, const vg_report *report,
			     const vg_report_zone *zone, vg_report_route *ret)
{
	memset(ret, 0, sizeof(*ret));
	vg_report_category c = report->category;
	const vg_report_rule *rule = &policy->rules[(unsigned)c < VG_REPORT_NCATEGORIES ? c : VG_REPORT_OTHER];
	bool hold = restricted(c);
	ret->priority = rule->priority;
	ret->hold_for_review = hold;
	ret->match_evidence = hold || (rule->actions & VG_REPORT_ACT_MATCH_EVIDENCE);
	if (!zone) {
		ret->not_ours = true;
		return;
	}
	unsigned a = rule->actions;
	if (hold)
		a &= ~(VG_REPORT_ACT_NOTIFY_OWNER | VG_REPORT_ACT_FORWARD_OWNER);
	if (a & (VG_REPORT_ACT_NOTIFY_OWNER | VG_REPORT_ACT_FORWARD_OWNER))
		add_party(ret, VG_REPORT_PARTY_OWNER, &zone->owner, report->share_owner,
			  a & VG_REPORT_ACT_FORWARD_OWNER, !hold);
	if (a & (VG_REPORT_ACT_NOTIFY_HOST | VG_REPORT_ACT_FORWARD_HOST))
		add_party(ret, VG_REPORT_PARTY_HOST, &zone->host, report->share_host,
			  a & VG_REPORT_ACT_FORWARD_HOST, !hold);
}

int vg_report_dedup_key(vg_report_category category, const char *url, char *out, size_t out_size,
			vg_error *err)
{
	char canon[VG_URL_MAX + 1];
	int rc = vg_url_canonicalize(url, strlen(url), canon, sizeof(canon), err);
	if (rc)
		return rc;
	int n = snprintf(out, out_size, "%s %s", vg_report_category_name(category), canon);
	if (n < 0 || (size_t)n >= out_size)
		return vg_error_set(err, VG_EINVAL, "dedup key needs %d bytes", n + 1);
	return 0;
}
