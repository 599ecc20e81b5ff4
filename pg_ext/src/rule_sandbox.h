/*
 * rule_sandbox.h: the Lua 5.4 sandbox tenants' routing rules run in.
 *
 * Plain C and Lua, nothing of PostgreSQL: the extension and the offline rule checker
 * (rules/check.c) use this same code, so a rule behaves alike in both. The host owns the
 * boundary: every Lua call here runs under lua_pcall, no Lua error leaves this file, and the
 * host must not let a PostgreSQL error cross a Lua frame (it calls nothing of PostgreSQL from
 * inside Lua; the interrupt check is a flag read).
 *
 * What a rule can do: compute over the call and the candidates it is given, with the base
 * library (less what reaches outside: load, dofile, loadfile, require, rawset, collectgarbage
 * beyond "count"), string (patterns bounded, no dump), table, math, utf8 and os.time, os.date,
 * os.clock, os.difftime. What stops it: an instruction budget and a wall-clock deadline checked
 * from a count hook, which keeps failing once hit so no pcall can swallow it; a memory cap and a
 * cap on any single allocation (so on any string) in the allocator; a cap on source size; text
 * chunks only; library tables and the string metatable read-only; pattern functions refused
 * when their worst case (subject length to the power of repetition items plus one) passes a
 * budget, since the hook never fires inside C.
 */
#ifndef CCROUTE_RULE_SANDBOX_H
#define CCROUTE_RULE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cc_rule_limits
{
	size_t		memory_bytes;	/* all of a state's memory */
	size_t		alloc_bytes;	/* one allocation: the longest string a rule can build */
	size_t		source_bytes;	/* a rule's source text */
	long		instructions;	/* per run */
	int			deadline_ms;	/* per run, wall clock */
	double		pattern_steps;	/* worst case a pattern call may have */
} cc_rule_limits;

/* The defaults the settings start from. */
extern const cc_rule_limits cc_rule_default_limits;

/* Why a run or a compilation stopped; in the order a host reports them. */
typedef enum cc_rule_stop
{
	CC_RULE_OK = 0,
	CC_RULE_ERROR,				/* the rule raised an error, or broke a sandbox rule */
	CC_RULE_SYNTAX,				/* it does not compile */
	CC_RULE_INSTRUCTIONS,		/* instruction budget spent */
	CC_RULE_DEADLINE,			/* wall-clock deadline passed */
	CC_RULE_MEMORY,				/* memory cap, or one allocation too large */
	CC_RULE_INTERRUPTED,		/* the host asked it to stop (query cancel) */
	CC_RULE_BAD_RESULT			/* it returned something that is not a decision */
} cc_rule_stop;

const char *cc_rule_stop_name(cc_rule_stop stop);

typedef struct cc_sandbox cc_sandbox;

/* A new state; NULL when even the libraries do not fit the memory cap. */
cc_sandbox *cc_sandbox_new(const cc_rule_limits *limits);
void		cc_sandbox_free(cc_sandbox *sb);
size_t		cc_sandbox_memory(const cc_sandbox *sb);

/* The host's interrupt check, polled from the hook (a flag read: it must not throw). */
void		cc_sandbox_set_interrupt(cc_sandbox *sb, bool (*pending) (void));

/*
 * Compiles a rule: the chunk must return a function (the rule). On success *ref names it for
 * cc_sandbox_run. On failure the stop reason, and in err the message with its line.
 */
cc_rule_stop cc_sandbox_compile(cc_sandbox *sb, const char *source, size_t len, const char *name,
								int *ref, char *err, size_t errlen);
void		cc_sandbox_release(cc_sandbox *sb, int ref);

/* A call as a rule sees it. */
typedef struct cc_rule_fact
{
	const char *name;
	const char *value;
} cc_rule_fact;

typedef struct cc_rule_call
{
	const char *caller;
	const char *dialed;
	const char *skill;			/* the number's skill, or NULL */
	int			year, month, day, hour, minute, wday;	/* local time; wday 1 = Monday */
	bool		holiday;
	const cc_rule_fact *facts;
	int			nfacts;
} cc_rule_call;

typedef struct cc_rule_skill
{
	const char *name;
	int			proficiency;
} cc_rule_skill;

typedef struct cc_rule_agent
{
	const char *extension;
	const char *name;
	const cc_rule_skill *skills;
	int			nskills;
	double		idle_seconds;
	int			calls_today;
	int			talk_seconds_today;
} cc_rule_agent;

/* What a rule decided, checked: names are those the rule returned, bounded in length and count;
 * the host still checks them against the tenant (agents among the candidates, skills and
 * destinations that exist). */
#define CC_RULE_MAX_AGENTS 64
#define CC_RULE_MAX_NAME 64

typedef enum cc_rule_action
{
	CC_RULE_DEFAULT = 0,		/* nothing: route as the number says */
	CC_RULE_AGENTS,				/* these agents, in this order */
	CC_RULE_SKILL,				/* this skill (and level) instead of the number's */
	CC_RULE_OVERFLOW,			/* the skill's overflow at once */
	CC_RULE_REJECT,				/* refuse with this status */
	CC_RULE_FORWARD				/* to one of the tenant's allowed destinations, by name */
} cc_rule_action;

typedef struct cc_rule_decision
{
	cc_rule_action action;
	int			nagents;
	char		agents[CC_RULE_MAX_AGENTS][CC_RULE_MAX_NAME];
	char		skill[CC_RULE_MAX_NAME];
	int			min_proficiency;	/* 0: the number's */
	int			priority;		/* 0 (normal) to 9 */
	int			status;			/* reject: 400-699 */
	char		reason[CC_RULE_MAX_NAME];
	char		destination[CC_RULE_MAX_NAME];
	char		note[CC_RULE_MAX_NAME * 2];	/* the rule's words for the explanation */
} cc_rule_decision;

const char *cc_rule_action_name(cc_rule_action action);

/*
 * Runs rule ref on a call and its candidates within the limits; fills *out. On a stop other
 * than CC_RULE_OK, err says what (the host then routes as if there were no rule).
 */
cc_rule_stop cc_sandbox_run(cc_sandbox *sb, int ref, const cc_rule_call *call,
							const cc_rule_agent *agents, int nagents, cc_rule_decision *out,
							char *err, size_t errlen);

#endif
