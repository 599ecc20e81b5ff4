/*
 * login_lockout.h: lock-out of people's PostgreSQL logins after failed password authentications.
 *
 * login_lockout.c holds the shared-memory table the authentication hook counts in;
 * lockout_worker.c is the background worker that writes its outcomes to the database and loads
 * the table from there. This is the interface between the two.
 */
#ifndef CCROUTE_LOGIN_LOCKOUT_H
#define CCROUTE_LOGIN_LOCKOUT_H

#include "storage/latch.h"

/* Outcomes the hook counted for one role that the worker has not written yet. */
typedef struct LockoutOutcomes
{
	char		role[NAMEDATALEN];
	int32		successes;
	int32		failures;		/* every failure, for the audit */
	int32		failures_since_success; /* what the count becomes (after a reset when successes > 0) */
	int32		refusals;		/* logins refused because the role was locked */
} LockoutOutcomes;

/* A person's role as the database holds it. */
typedef struct LockoutRole
{
	char		role[NAMEDATALEN];
	int32		limit;			/* the tenant's max_failed_attempts; 0: no limit */
	int32		failures;		/* failed in a row */
	bool		locked;
} LockoutRole;

/* Where the worker stands; the hook waits for the first load only while it is starting. */
typedef enum LockoutState
{
	LOCKOUT_STARTING,			/* the table is not loaded yet since the server started */
	LOCKOUT_READY,				/* loaded */
	LOCKOUT_OFF					/* the worker could not load it (no database, no extension) */
} LockoutState;

extern char *ccroute_lockout_database;
/* True in the worker: its own writes do not need to wake it. */
extern bool ccroute_in_lockout_worker;

extern void ccroute_install_login_lockout(void);
extern void ccroute_lockout_reload_at_commit(void);

/* For the worker (lockout_worker.c). */
extern void lockout_worker_attach(Latch *latch);
extern void lockout_worker_detach(void);
extern void lockout_set_state(LockoutState state);
extern bool lockout_take_reload_wanted(void);
extern int	lockout_take_outcomes(LockoutOutcomes **outcomes);
extern void lockout_give_back(const LockoutOutcomes *outcomes, int count);
extern void lockout_publish(const LockoutRole *roles, int count);
extern void lockout_register_worker(void);

#endif
