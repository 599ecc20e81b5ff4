/*
 * rule_sandbox.c: the Lua 5.4 sandbox of tenants' routing rules (see the header).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "rule_sandbox.h"

const cc_rule_limits cc_rule_default_limits = {
	.memory_bytes = 8 * 1024 * 1024,
	.alloc_bytes = 1024 * 1024,
	.source_bytes = 64 * 1024,
	.instructions = 1000000,
	.deadline_ms = 10,
	.pattern_steps = 1e7,
};

/* The hook runs every HOOK_EVERY instructions while all is well, and at every instruction
 * once a limit is hit, so the error it raises comes back until nothing is left to catch it. */
#define HOOK_EVERY 1000

struct cc_sandbox
{
	lua_State  *L;
	cc_rule_limits lim;
	size_t		used;
	bool		running;
	long		instructions_left;
	struct timespec deadline;
	cc_rule_stop stop;
	bool		(*interrupt) (void);
};

static const char *const stop_names[] = {
	"ok", "error", "syntax", "instructions", "deadline", "memory", "interrupted", "bad_result"
};

const char *
cc_rule_stop_name(cc_rule_stop stop)
{
	return stop_names[stop];
}

static const char *const action_names[] = {
	"default", "agents", "skill", "overflow", "reject", "forward"
};

const char *
cc_rule_action_name(cc_rule_action action)
{
	return action_names[action];
}

/* t[key] without metamethods, pushed; its type returned. */
static int
raw_field(lua_State *L, int t, const char *key)
{
	t = lua_absindex(L, t);
	lua_pushstring(L, key);
	return lua_rawget(L, t);
}

static cc_sandbox *
sandbox_of(lua_State *L)
{
	void	   *ud;

	lua_getallocf(L, &ud);
	return ud;
}

static void sb_hook(lua_State *L, lua_Debug *ar);

/* A limit was hit: from now on the hook fails at every instruction. */
static void
trip(cc_sandbox *sb, cc_rule_stop stop)
{
	if (sb->stop == CC_RULE_OK)
		sb->stop = stop;
	lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, 1);
}

/*
 * All of the state's memory goes through here: a request past the cap, or any single block past
 * alloc_bytes (a string, a table's array), is refused, and Lua raises its memory error.
 */
static void *
sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	cc_sandbox *sb = ud;
	size_t		old = ptr ? osize : 0;
	void	   *p;

	if (nsize == 0)
	{
		free(ptr);
		sb->used -= old;
		return NULL;
	}
	if (nsize > old && (nsize > sb->lim.alloc_bytes || sb->used - old + nsize > sb->lim.memory_bytes))
	{
		if (sb->running)
			trip(sb, CC_RULE_MEMORY);
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (p == NULL)
		return NULL;
	sb->used = sb->used - old + nsize;
	return p;
}

static bool
past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec
		|| (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void
sb_hook(lua_State *L, lua_Debug *ar)
{
	cc_sandbox *sb = sandbox_of(L);

	if (sb->stop == CC_RULE_OK)
	{
		sb->instructions_left -= HOOK_EVERY;
		if (sb->instructions_left < 0)
			trip(sb, CC_RULE_INSTRUCTIONS);
		else if (past(&sb->deadline))
			trip(sb, CC_RULE_DEADLINE);
		else if (sb->interrupt && sb->interrupt())
			trip(sb, CC_RULE_INTERRUPTED);
	}
	if (sb->stop != CC_RULE_OK)
		luaL_error(L, "stopped: %s limit", cc_rule_stop_name(sb->stop));
}

/* --- What the rule may call. ------------------------------------------------------------- */

/* collectgarbage("count") only: the rest would let a rule steer the collector. */
static int
sb_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");

	if (strcmp(opt, "count") != 0)
		return luaL_error(L, "collectgarbage: only \"count\" is allowed in a rule");
	lua_pushnumber(L, (lua_Number) sandbox_of(L)->used / 1024.0);
	return 1;
}

/* setmetatable, refusing finalizers: a __gc would run outside the rule's own run. */
static int
sb_setmetatable(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (!lua_isnoneornil(L, 2))
	{
		luaL_checktype(L, 2, LUA_TTABLE);
		if (raw_field(L, 2, "__gc") != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc is not allowed in a rule");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

/*
 * xpcall without a message handler inside the error: Lua calls that handler while the error is
 * being raised, and an error raised by the hook (a limit) is raised with hooks off, so a handler
 * that loops would never be stopped. Here the handler runs after the error, as plain code.
 */
static int
sb_xpcall(lua_State *L)
{
	int			n = lua_gettop(L);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_insert(L, 1);			/* the handler, kept below the call */
	lua_remove(L, 3);
	if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK)
	{
		lua_pushboolean(L, 1);
		lua_replace(L, 1);
		return lua_gettop(L);
	}
	lua_pcall(L, 1, 1, 0);		/* the handler, on the error object */
	lua_pushboolean(L, 0);
	lua_insert(L, -2);
	return 2;
}

/*
 * The worst case of a pattern call: a subject of n bytes and q repetition items (* + - ? and
 * %b) cost up to about n^(q+1) steps in C, where no hook fires. Too much is refused.
 */
static int
pattern_items(const char *p, size_t len)
{
	int			q = 0;
	size_t		i = 0;

	while (i < len)
	{
		char		c = p[i++];

		if (c == '%')
		{
			if (i < len && p[i] == 'b')
				q++;
			i++;
		}
		else if (c == '[')
		{
			if (i < len && p[i] == '^')
				i++;
			if (i < len && p[i] == ']')
				i++;
			while (i < len && p[i] != ']')
				i += (p[i] == '%') ? 2 : 1;
			i++;
		}
		else if (c == '*' || c == '+' || c == '-' || c == '?')
			q++;
	}
	return q;
}

static int
sb_pattern(lua_State *L)
{
	size_t		n,
				plen;
	const char *s = luaL_checklstring(L, 1, &n);
	const char *p = luaL_checklstring(L, 2, &plen);
	bool		plain = lua_tointeger(L, lua_upvalueindex(2)) == 1 && lua_toboolean(L, 4);

	(void) s;
	if (!plain)
	{
		double		steps = pow((double) (n > 1 ? n : 2), pattern_items(p, plen) + 1);

		if (steps > sandbox_of(L)->lim.pattern_steps)
		{
			char		msg[160];

			snprintf(msg, sizeof(msg), "pattern too costly for a subject of %zu bytes (worst case %.3g steps, limit %.3g)",
					 n, steps, sandbox_of(L)->lim.pattern_steps);
			return luaL_error(L, "%s", msg);
		}
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* A table whose fields are those of `real`, which cannot be changed through it. */
static int
sb_readonly(lua_State *L)
{
	return luaL_error(L, "library tables are read-only in a rule");
}

static void
push_readonly(lua_State *L, int real)
{
	real = lua_absindex(L, real);
	lua_newtable(L);
	lua_newtable(L);
	lua_pushvalue(L, real);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, sb_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

/* Copies the named fields of the table at src into a new table, pushed. */
static void
copy_fields(lua_State *L, int src, const char *const *names)
{
	src = lua_absindex(L, src);
	lua_newtable(L);
	for (; *names; names++)
	{
		lua_getfield(L, src, *names);
		lua_setfield(L, -2, *names);
	}
}

static const char *const base_names[] = {
	"assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
	"rawlen", "select", "tonumber", "tostring", "type", "_VERSION", NULL
};
static const char *const string_names[] = {
	"byte", "char", "format", "len", "lower", "rep", "reverse", "sub", "upper", "pack",
	"packsize", "unpack", NULL
};
static const char *const pattern_names[] = {"find", "match", "gmatch", "gsub", NULL};
static const char *const os_names[] = {"time", "date", "clock", "difftime", NULL};

/* Builds the state's libraries; runs under lua_pcall (memory may run out). */
static int
sb_setup(lua_State *L)
{
	int			g,
				i;

	/* The real libraries, opened apart: what a rule sees is copied from them. */
	luaL_requiref(L, "_G", luaopen_base, 0);
	luaL_requiref(L, "string", luaopen_string, 0);
	luaL_requiref(L, "table", luaopen_table, 0);
	luaL_requiref(L, "math", luaopen_math, 0);
	luaL_requiref(L, "utf8", luaopen_utf8, 0);
	luaL_requiref(L, "os", luaopen_os, 0);
	/* stack: 1 _G, 2 string, 3 table, 4 math, 5 utf8, 6 os */

	/* The rules' globals, kept in the registry; each rule's environment reads through it. */
	copy_fields(L, 1, base_names);
	g = lua_gettop(L);
	lua_pushcfunction(L, sb_collectgarbage);
	lua_setfield(L, g, "collectgarbage");
	lua_pushcfunction(L, sb_xpcall);
	lua_setfield(L, g, "xpcall");
	lua_getfield(L, 1, "setmetatable");
	lua_pushcclosure(L, sb_setmetatable, 1);
	lua_setfield(L, g, "setmetatable");

	/* string: no dump, bounded patterns; also what strings' methods are. */
	copy_fields(L, 2, string_names);
	for (i = 0; pattern_names[i]; i++)
	{
		lua_getfield(L, 2, pattern_names[i]);
		lua_pushinteger(L, strcmp(pattern_names[i], "find") == 0 ? 1 : 0);
		lua_pushcclosure(L, sb_pattern, 2);
		lua_setfield(L, -2, pattern_names[i]);
	}
	/* Strings' metatable: methods from the safe table, and getmetatable("") gives nothing. */
	lua_newtable(L);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pushliteral(L, "");
	lua_pushvalue(L, -2);
	lua_setmetatable(L, -2);
	lua_pop(L, 2);
	push_readonly(L, -1);
	lua_setfield(L, g, "string");
	lua_pop(L, 1);

	push_readonly(L, 3);
	lua_setfield(L, g, "table");
	push_readonly(L, 4);
	lua_setfield(L, g, "math");
	push_readonly(L, 5);
	lua_setfield(L, g, "utf8");
	copy_fields(L, 6, os_names);
	push_readonly(L, -1);
	lua_setfield(L, g, "os");
	lua_pop(L, 1);

	lua_setfield(L, LUA_REGISTRYINDEX, "ccroute.globals");
	lua_settop(L, 0);
	/* The loaded-modules table keeps the real libraries reachable from C only; nothing of the
	 * rule's can reach the registry. */
	return 0;
}

cc_sandbox *
cc_sandbox_new(const cc_rule_limits *limits)
{
	cc_sandbox *sb = calloc(1, sizeof(*sb));

	if (sb == NULL)
		return NULL;
	sb->lim = limits ? *limits : cc_rule_default_limits;
	sb->L = lua_newstate(sb_alloc, sb);
	if (sb->L == NULL)
	{
		free(sb);
		return NULL;
	}
	lua_pushcfunction(sb->L, sb_setup);
	if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK)
	{
		cc_sandbox_free(sb);
		return NULL;
	}
	lua_gc(sb->L, LUA_GCGEN, 0, 0);
	return sb;
}

void
cc_sandbox_free(cc_sandbox *sb)
{
	if (sb == NULL)
		return;
	if (sb->L)
		lua_close(sb->L);		/* no finalizers of the rules' own (they would run with hooks off):
								 * setmetatable refuses __gc */
	free(sb);
}

size_t
cc_sandbox_memory(const cc_sandbox *sb)
{
	return sb->used;
}

void
cc_sandbox_set_interrupt(cc_sandbox *sb, bool (*pending) (void))
{
	sb->interrupt = pending;
}

static void
begin_run(cc_sandbox *sb)
{
	clock_gettime(CLOCK_MONOTONIC, &sb->deadline);
	sb->deadline.tv_sec += sb->lim.deadline_ms / 1000;
	sb->deadline.tv_nsec += (long) (sb->lim.deadline_ms % 1000) * 1000000L;
	if (sb->deadline.tv_nsec >= 1000000000L)
	{
		sb->deadline.tv_sec++;
		sb->deadline.tv_nsec -= 1000000000L;
	}
	sb->instructions_left = sb->lim.instructions;
	sb->stop = CC_RULE_OK;
	sb->running = true;
	lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

/* Ends a protected run: the reason it stopped, and its message in err. */
static cc_rule_stop
end_run(cc_sandbox *sb, int status, cc_rule_stop otherwise, char *err, size_t errlen)
{
	cc_rule_stop stop = sb->stop;
	const char *msg;

	lua_sethook(sb->L, NULL, 0, 0);
	sb->running = false;
	if (status == LUA_OK && stop == CC_RULE_OK)
		return CC_RULE_OK;
	if (stop == CC_RULE_OK)
		stop = status == LUA_ERRMEM ? CC_RULE_MEMORY : otherwise;
	msg = lua_type(sb->L, -1) == LUA_TSTRING ? lua_tostring(sb->L, -1) : "error object is not a string";
	switch (stop)
	{
		case CC_RULE_INSTRUCTIONS:
			snprintf(err, errlen, "instruction budget of %ld spent", sb->lim.instructions);
			break;
		case CC_RULE_DEADLINE:
			snprintf(err, errlen, "deadline of %d ms passed", sb->lim.deadline_ms);
			break;
		case CC_RULE_MEMORY:
			snprintf(err, errlen, "memory limit reached (%zu bytes in all, %zu in one block)",
					 sb->lim.memory_bytes, sb->lim.alloc_bytes);
			break;
		case CC_RULE_INTERRUPTED:
			snprintf(err, errlen, "interrupted");
			break;
		default:
			snprintf(err, errlen, "%s", msg);
			break;
	}
	lua_settop(sb->L, 0);
	lua_gc(sb->L, LUA_GCCOLLECT);
	return stop;
}

typedef struct compile_args
{
	const char *source;
	size_t		len;
	const char *name;
	int			ref;
	int			syntax;
} compile_args;

static int
sb_compile(lua_State *L)
{
	compile_args *a = lua_touserdata(L, 1);

	/* "t": text only, a binary chunk is refused. "=name": messages say "name:line:". */
	lua_pushfstring(L, "=%s", a->name);
	if (luaL_loadbufferx(L, a->source, a->len, lua_tostring(L, -1), "t") != LUA_OK)
	{
		a->syntax = 1;
		return lua_error(L);
	}
	/* Its own environment, reading the shared globals; _G is that environment. */
	lua_newtable(L);
	lua_newtable(L);
	lua_getfield(L, LUA_REGISTRYINDEX, "ccroute.globals");
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	lua_setupvalue(L, -2, 1);
	lua_call(L, 0, 1);
	if (lua_type(L, -1) != LUA_TFUNCTION)
		return luaL_error(L, "a rule must return a function (it returned %s)", luaL_typename(L, -1));
	a->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

cc_rule_stop
cc_sandbox_compile(cc_sandbox *sb, const char *source, size_t len, const char *name, int *ref,
				   char *err, size_t errlen)
{
	compile_args a = {source, len, name, LUA_NOREF, 0};
	int			status;

	if (len > sb->lim.source_bytes)
	{
		snprintf(err, errlen, "source of %zu bytes is over the limit of %zu", len, sb->lim.source_bytes);
		return CC_RULE_SYNTAX;
	}
	begin_run(sb);
	lua_pushcfunction(sb->L, sb_compile);
	lua_pushlightuserdata(sb->L, &a);
	status = lua_pcall(sb->L, 1, 0, 0);
	*ref = a.ref;
	return end_run(sb, status, a.syntax ? CC_RULE_SYNTAX : CC_RULE_ERROR, err, errlen);
}

void
cc_sandbox_release(cc_sandbox *sb, int ref)
{
	luaL_unref(sb->L, LUA_REGISTRYINDEX, ref);
}

/* --- One run. ---------------------------------------------------------------------------- */

typedef struct run_args
{
	int			ref;
	const cc_rule_call *call;
	const cc_rule_agent *agents;
	int			nagents;
	cc_rule_decision *out;
	int			bad_result;
} run_args;

static void
set_string(lua_State *L, const char *key, const char *value)
{
	if (value)
	{
		lua_pushstring(L, value);
		lua_setfield(L, -2, key);
	}
}

static void
set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

static void
push_call(lua_State *L, const cc_rule_call *c)
{
	int			i;

	lua_createtable(L, 0, 12);
	set_string(L, "caller", c->caller);
	set_string(L, "dialed", c->dialed);
	set_string(L, "skill", c->skill);
	set_integer(L, "year", c->year);
	set_integer(L, "month", c->month);
	set_integer(L, "day", c->day);
	set_integer(L, "hour", c->hour);
	set_integer(L, "minute", c->minute);
	set_integer(L, "wday", c->wday);
	lua_pushboolean(L, c->holiday);
	lua_setfield(L, -2, "holiday");
	lua_createtable(L, 0, c->nfacts);
	for (i = 0; i < c->nfacts; i++)
		set_string(L, c->facts[i].name, c->facts[i].value);
	lua_setfield(L, -2, "facts");
}

static void
push_agents(lua_State *L, const cc_rule_agent *agents, int n)
{
	int			i,
				j;

	lua_createtable(L, n, 0);
	for (i = 0; i < n; i++)
	{
		const cc_rule_agent *a = &agents[i];

		lua_createtable(L, 0, 6);
		set_string(L, "extension", a->extension);
		set_string(L, "name", a->name);
		lua_pushnumber(L, a->idle_seconds);
		lua_setfield(L, -2, "idle_seconds");
		set_integer(L, "calls_today", a->calls_today);
		set_integer(L, "talk_seconds_today", a->talk_seconds_today);
		lua_createtable(L, 0, a->nskills);
		for (j = 0; j < a->nskills; j++)
			set_integer(L, a->skills[j].name, a->skills[j].proficiency);
		lua_setfield(L, -2, "skills");
		lua_rawseti(L, -2, i + 1);
	}
}

static int
bad(lua_State *L, run_args *a, const char *fmt, const char *what)
{
	a->bad_result = 1;
	return luaL_error(L, fmt, what);
}

/* A bounded string field of the result, read without metamethods. */
static bool
get_name(lua_State *L, run_args *a, int t, const char *key, char *dst, size_t size)
{
	size_t		len;
	const char *s;
	int			type = raw_field(L, t, key);

	if (type == LUA_TNIL)
	{
		lua_pop(L, 1);
		return false;
	}
	if (type != LUA_TSTRING)
		bad(L, a, "rule result: %s must be a string", key);
	s = lua_tolstring(L, -1, &len);
	if (len == 0 || len >= size)
		bad(L, a, "rule result: %s must be 1 to 63 bytes (127 for note)", key);
	memcpy(dst, s, len + 1);
	lua_pop(L, 1);
	return true;
}

static bool
get_int(lua_State *L, run_args *a, int t, const char *key, int lo, int hi, int *dst)
{
	int			isint;
	lua_Integer v;

	if (raw_field(L, t, key) == LUA_TNIL)
	{
		lua_pop(L, 1);
		return false;
	}
	v = lua_tointegerx(L, -1, &isint);
	if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < lo || v > hi)
	{
		char		msg[96];

		snprintf(msg, sizeof(msg), "rule result: %s must be an integer from %d to %d", key, lo, hi);
		a->bad_result = 1;
		return luaL_error(L, "%s", msg);
	}
	*dst = (int) v;
	lua_pop(L, 1);
	return true;
}

static const char *const result_keys[] = {
	"agents", "skill", "min_proficiency", "overflow", "reject", "reason", "forward", "priority",
	"note", NULL
};

/* Reads the rule's result (at the top) into a->out, refusing anything else. */
static void
read_decision(lua_State *L, run_args *a)
{
	cc_rule_decision *d = a->out;
	int			t = lua_gettop(L),
				kinds = 0,
				keys = 0,
				i;

	memset(d, 0, sizeof(*d));
	if (lua_isnil(L, t))
		return;
	if (!lua_istable(L, t))
		bad(L, a, "rule result: a table or nil, not %s", luaL_typename(L, t));
	/* Only known keys, and few of them. */
	lua_pushnil(L);
	while (lua_next(L, t))
	{
		bool		known = false;

		lua_pop(L, 1);
		if (++keys > 16)
			bad(L, a, "rule result: %s", "too many fields");
		if (lua_type(L, -1) == LUA_TSTRING)
			for (i = 0; result_keys[i]; i++)
				known |= strcmp(lua_tostring(L, -1), result_keys[i]) == 0;
		if (!known)
			bad(L, a, "rule result: unknown field %s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a name)");
	}
	get_int(L, a, t, "priority", 0, 9, &d->priority);
	get_name(L, a, t, "note", d->note, sizeof(d->note));

	if (raw_field(L, t, "agents") != LUA_TNIL)
	{
		int			n,
					at = lua_gettop(L);

		if (!lua_istable(L, at))
			bad(L, a, "rule result: %s must be a list of extensions", "agents");
		n = (int) lua_rawlen(L, at);
		if (n < 1 || n > CC_RULE_MAX_AGENTS)
			bad(L, a, "rule result: agents must list 1 to %s extensions", "64");
		for (i = 1; i <= n; i++)
		{
			size_t		len;
			const char *s;

			if (lua_rawgeti(L, at, i) != LUA_TSTRING)
				bad(L, a, "rule result: %s must hold extensions (strings)", "agents");
			s = lua_tolstring(L, -1, &len);
			if (len == 0 || len >= CC_RULE_MAX_NAME)
				bad(L, a, "rule result: %s must hold extensions of 1 to 63 bytes", "agents");
			memcpy(d->agents[i - 1], s, len + 1);
			lua_pop(L, 1);
		}
		d->nagents = n;
		d->action = CC_RULE_AGENTS;
		kinds++;
	}
	lua_pop(L, 1);
	if (get_name(L, a, t, "skill", d->skill, CC_RULE_MAX_NAME))
	{
		d->action = CC_RULE_SKILL;
		kinds++;
	}
	if (get_int(L, a, t, "min_proficiency", 1, 10, &d->min_proficiency) && d->action != CC_RULE_SKILL)
		bad(L, a, "rule result: %s goes with skill", "min_proficiency");
	if (raw_field(L, t, "overflow") != LUA_TNIL)
	{
		if (lua_type(L, -1) != LUA_TBOOLEAN)
			bad(L, a, "rule result: %s must be true or false", "overflow");
		if (lua_toboolean(L, -1))
		{
			d->action = CC_RULE_OVERFLOW;
			kinds++;
		}
	}
	lua_pop(L, 1);
	if (get_int(L, a, t, "reject", 400, 699, &d->status))
	{
		d->action = CC_RULE_REJECT;
		kinds++;
		if (!get_name(L, a, t, "reason", d->reason, CC_RULE_MAX_NAME))
			strcpy(d->reason, "Refused by the tenant's rule");
	}
	else if (get_name(L, a, t, "reason", d->reason, CC_RULE_MAX_NAME))
		bad(L, a, "rule result: %s goes with reject", "reason");
	if (get_name(L, a, t, "forward", d->destination, CC_RULE_MAX_NAME))
	{
		d->action = CC_RULE_FORWARD;
		kinds++;
	}
	if (kinds > 1)
		bad(L, a, "rule result: %s", "at most one of agents, skill, overflow, reject and forward");
}

static int
sb_run(lua_State *L)
{
	run_args   *a = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
	if (lua_type(L, -1) != LUA_TFUNCTION)
		return luaL_error(L, "no such compiled rule");
	push_call(L, a->call);
	push_agents(L, a->agents, a->nagents);
	lua_call(L, 2, 1);
	/* The rule is done: reading its result is the host's work, not the budget's. */
	lua_sethook(L, NULL, 0, 0);
	read_decision(L, a);
	return 0;
}

cc_rule_stop
cc_sandbox_run(cc_sandbox *sb, int ref, const cc_rule_call *call, const cc_rule_agent *agents,
			   int nagents, cc_rule_decision *out, char *err, size_t errlen)
{
	run_args	a = {ref, call, agents, nagents, out, 0};
	cc_rule_stop stop;
	int			status;

	begin_run(sb);
	lua_pushcfunction(sb->L, sb_run);
	lua_pushlightuserdata(sb->L, &a);
	status = lua_pcall(sb->L, 1, 0, 0);
	stop = end_run(sb, status, a.bad_result ? CC_RULE_BAD_RESULT : CC_RULE_ERROR, err, errlen);
	if (stop != CC_RULE_OK)
		memset(out, 0, sizeof(*out));
	return stop;
}
