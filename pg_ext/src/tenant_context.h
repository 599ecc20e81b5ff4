/*
 * tenant_context.h: the transaction-local tenant that privileged functions act for.
 */
#ifndef CCROUTE_TENANT_CONTEXT_H
#define CCROUTE_TENANT_CONTEXT_H

#include "postgres.h"

#define CCROUTE_OWNER_ROLE "ccroute_owner"

extern void ccroute_define_tenant_context(void);

/* The owner role or a superuser: who may set the settings the owner's functions trust. */
extern bool ccroute_owner_or_superuser(void);

/* Sets the context for the rest of the current function call (GUC_ACTION_LOCAL: a function
 * with a SET clause restores the caller's value when it returns). */
extern void ccroute_set_tenant_context(int64 tenant_id);

#endif
