/*
 * ccroute-rule-check: runs a tenant's routing rule against sample calls, outside PostgreSQL,
 * in the same sandbox as the extension (pg_ext/src/rule_sandbox.c) and with the same limits.
 *
 *   ccroute-rule-check [options] RULE.lua [SAMPLES.lua]
 *
 * Without samples it only compiles the rule. SAMPLES.lua returns a list of samples:
 *   { name = "...", call = { caller =, dialed =, skill =, year =, month =, day =, hour =,
 *     minute =, wday =, holiday =, facts = { name = value } },
 *     agents = { { extension =, name =, skills = { name = level }, idle_seconds =,
 *                  calls_today =, talk_seconds_today = }, ... },
 *     expect = "agents 101,102" }
 * Each sample's outcome is printed on a line of its own ("name: outcome"); when a sample says
 * what it expects, a different outcome fails the check. Outcomes: default, agents E1,E2,
 * skill NAME LEVEL, overflow, reject STATUS REASON, forward NAME (then " priority N" when not
 * 0), or "stopped REASON: message".
 *
 * Options set the limits (defaults as in the extension): --instructions N, --deadline-ms N,
 * --memory BYTES, --alloc BYTES, --source BYTES, --pattern-steps N; --repeat N runs each
 * sample N times (printing the mean time per run); --set NAME takes the samples from field NAME
 * of what SAMPLES.lua returns (one file for several rules).
 *
 * Exit status: 0 all as expected, 1 a sample's outcome was not what it expected, 2 the rule
 * does not compile or the command was wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rule_sandbox.h"

#define MAX_AGENTS 512
#define MAX_SKILLS 16
#define MAX_FACTS 16

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0,
				n;

	if (f == NULL)
		return NULL;
	*len = 0;
	for (;;)
	{
		if (*len + 4096 > cap)
		{
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

/* Field readers of the samples (a trusted developer's file, read in a plain state). */
static const char *
str_field(lua_State *L, int t, const char *key)
{
	const char *s;

	lua_getfield(L, t, key);
	s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
	lua_pop(L, 1);				/* the string stays alive: the table holds it */
	return s;
}

static double
num_field(lua_State *L, int t, const char *key, double otherwise)
{
	double		v;

	lua_getfield(L, t, key);
	v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : otherwise;
	lua_pop(L, 1);
	return v;
}

static void
describe(const cc_rule_decision *d, char *buf, size_t size)
{
	size_t		n = 0;
	int			i;

	n += snprintf(buf + n, size - n, "%s", cc_rule_action_name(d->action));
	switch (d->action)
	{
		case CC_RULE_AGENTS:
			for (i = 0; i < d->nagents; i++)
				n += snprintf(buf + n, size - n, "%s%s", i ? "," : " ", d->agents[i]);
			break;
		case CC_RULE_SKILL:
			n += snprintf(buf + n, size - n, " %s %d", d->skill, d->min_proficiency);
			break;
		case CC_RULE_REJECT:
			n += snprintf(buf + n, size - n, " %d %s", d->status, d->reason);
			break;
		case CC_RULE_FORWARD:
			n += snprintf(buf + n, size - n, " %s", d->destination);
			break;
		default:
			break;
	}
	if (d->priority)
		snprintf(buf + n, size - n, " priority %d", d->priority);
}

static int
usage(void)
{
	fprintf(stderr, "usage: ccroute-rule-check [--instructions N] [--deadline-ms N] [--memory BYTES]"
			" [--alloc BYTES] [--source BYTES] [--pattern-steps N] [--repeat N] [--set NAME] RULE.lua [SAMPLES.lua]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	cc_rule_limits lim = cc_rule_default_limits;
	const char *rule_path = NULL,
			   *samples_path = NULL,
			   *set = NULL;
	long		repeat = 1;
	char	   *source,
				err[512];
	size_t		len;
	cc_sandbox *sb;
	cc_rule_stop stop;
	lua_State  *S;
	int			i,
				ref,
				nsamples,
				failures = 0;

	for (i = 1; i < argc; i++)
	{
		if (i + 1 < argc && strcmp(argv[i], "--instructions") == 0)
			lim.instructions = atol(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--deadline-ms") == 0)
			lim.deadline_ms = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--memory") == 0)
			lim.memory_bytes = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--alloc") == 0)
			lim.alloc_bytes = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--source") == 0)
			lim.source_bytes = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--pattern-steps") == 0)
			lim.pattern_steps = atof(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--repeat") == 0)
			repeat = atol(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--set") == 0)
			set = argv[++i];
		else if (argv[i][0] == '-')
			return usage();
		else if (rule_path == NULL)
			rule_path = argv[i];
		else if (samples_path == NULL)
			samples_path = argv[i];
		else
			return usage();
	}
	if (rule_path == NULL || repeat < 1)
		return usage();
	if ((source = read_file(rule_path, &len)) == NULL)
	{
		fprintf(stderr, "cannot read %s\n", rule_path);
		return 2;
	}
	if ((sb = cc_sandbox_new(&lim)) == NULL)
	{
		fprintf(stderr, "the sandbox does not fit its memory limit\n");
		return 2;
	}
	stop = cc_sandbox_compile(sb, source, len, "rule", &ref, err, sizeof(err));
	if (stop != CC_RULE_OK)
	{
		printf("compile: stopped %s: %s\n", cc_rule_stop_name(stop), err);
		return 2;
	}
	printf("compile: ok (%zu bytes of memory)\n", cc_sandbox_memory(sb));
	if (samples_path == NULL)
		return 0;

	/* The samples are the rule author's own file, read in a plain state of its own. */
	S = luaL_newstate();
	luaL_openlibs(S);
	if (luaL_loadfilex(S, samples_path, "t") != LUA_OK || lua_pcall(S, 0, 1, 0) != LUA_OK
		|| !lua_istable(S, -1))
	{
		fprintf(stderr, "samples: %s\n", lua_isstring(S, -1) ? lua_tostring(S, -1) : "must return a list");
		return 2;
	}
	if (set)
	{
		lua_getfield(S, 1, set);
		if (!lua_istable(S, -1))
		{
			fprintf(stderr, "samples: no set \"%s\"\n", set);
			return 2;
		}
		lua_replace(S, 1);
	}
	nsamples = (int) lua_rawlen(S, 1);
	for (i = 1; i <= nsamples; i++)
	{
		static cc_rule_agent agents[MAX_AGENTS];
		static cc_rule_skill skills[MAX_AGENTS][MAX_SKILLS];
		cc_rule_fact facts[MAX_FACTS];
		cc_rule_call call = {0};
		cc_rule_decision d;
		const char *name,
				   *expect;
		char		outcome[1024];
		int			nagents = 0,
					s = lua_gettop(S) + 1;
		long		r;
		struct timespec t0,
					t1;

		lua_rawgeti(S, 1, i);
		name = str_field(S, s, "name");
		expect = str_field(S, s, "expect");
		if (lua_getfield(S, s, "call") == LUA_TTABLE)
		{
			int			c = lua_gettop(S);

			call.caller = str_field(S, c, "caller");
			call.dialed = str_field(S, c, "dialed");
			call.skill = str_field(S, c, "skill");
			call.year = (int) num_field(S, c, "year", 2026);
			call.month = (int) num_field(S, c, "month", 1);
			call.day = (int) num_field(S, c, "day", 1);
			call.hour = (int) num_field(S, c, "hour", 12);
			call.minute = (int) num_field(S, c, "minute", 0);
			call.wday = (int) num_field(S, c, "wday", 1);
			lua_getfield(S, c, "holiday");
			call.holiday = lua_toboolean(S, -1);
			lua_pop(S, 1);
			if (lua_getfield(S, c, "facts") == LUA_TTABLE)
			{
				lua_pushnil(S);
				while (call.nfacts < MAX_FACTS && lua_next(S, -2))
				{
					facts[call.nfacts].name = lua_tostring(S, -2);
					facts[call.nfacts].value = lua_tostring(S, -1);
					call.nfacts++;
					lua_pop(S, 1);
				}
			}
			call.facts = facts;
		}
		if (lua_getfield(S, s, "agents") == LUA_TTABLE)
		{
			int			at = lua_gettop(S),
						n = (int) lua_rawlen(S, at);

			for (nagents = 0; nagents < n && nagents < MAX_AGENTS; nagents++)
			{
				cc_rule_agent *a = &agents[nagents];
				int			t;

				lua_rawgeti(S, at, nagents + 1);
				t = lua_gettop(S);
				memset(a, 0, sizeof(*a));
				a->extension = str_field(S, t, "extension");
				a->name = str_field(S, t, "name");
				a->idle_seconds = num_field(S, t, "idle_seconds", 0);
				a->calls_today = (int) num_field(S, t, "calls_today", 0);
				a->talk_seconds_today = (int) num_field(S, t, "talk_seconds_today", 0);
				a->skills = skills[nagents];
				if (lua_getfield(S, t, "skills") == LUA_TTABLE)
				{
					lua_pushnil(S);
					while (a->nskills < MAX_SKILLS && lua_next(S, -2))
					{
						skills[nagents][a->nskills].name = lua_tostring(S, -2);
						skills[nagents][a->nskills].proficiency = (int) lua_tointeger(S, -1);
						a->nskills++;
						lua_pop(S, 1);
					}
				}
			}
		}

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (r = 0; r < repeat; r++)
			stop = cc_sandbox_run(sb, ref, &call, agents, nagents, &d, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (stop == CC_RULE_OK)
			describe(&d, outcome, sizeof(outcome));
		else
			snprintf(outcome, sizeof(outcome), "stopped %s: %s", cc_rule_stop_name(stop), err);
		printf("%s: %s", name ? name : "(unnamed)", outcome);
		if (d.note[0] && stop == CC_RULE_OK)
			printf(" (note: %s)", d.note);
		if (repeat > 1)
			printf(" [%.1f us per run]", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / repeat);
		printf("\n");
		if (expect && strncmp(outcome, expect, strlen(expect)) != 0)
		{
			printf("  expected: %s\n", expect);
			failures++;
		}
		lua_settop(S, s - 1);
	}
	printf("%d samples, %d not as expected; %zu bytes of memory\n", nsamples, failures, cc_sandbox_memory(sb));
	lua_close(S);
	cc_sandbox_free(sb);
	free(source);
	return failures ? 1 : 0;
}
