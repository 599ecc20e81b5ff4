/*
 * row_exprs.h: compiled check constraints, trigger conditions and index predicates, kept
 * (see row_exprs.c).
 */
#ifndef CCROUTE_ROW_EXPRS_H
#define CCROUTE_ROW_EXPRS_H

#include "postgres.h"

#include "nodes/execnodes.h"

/* Gives the ResultRelInfo (its indexes opened) the table's compiled expressions; query_cxt
 * is the statement's memory. */
extern void row_exprs_attach(ResultRelInfo *rri, MemoryContext query_cxt);

#endif
