/*
 * recording_files.c: the files of recordings, removed by retention and by a tenant's purge.
 *
 * Two promises. A file is removed only when the transaction that deleted its row commits: the
 * removal is queued, and the queue is carried out by a commit callback (after the commit record
 * is written) or dropped by an abort, including the abort of a subtransaction. And only a
 * regular file inside the recordings folder is ever removed: the stored path must be relative,
 * made of plain names (no "..", no ".", no empty part), and it is walked from the folder one
 * directory at a time with O_NOFOLLOW, so no symbolic link (to a look-alike sibling folder or
 * anywhere else) is followed, whatever was swapped in after the row was written. A symbolic link
 * itself is refused too: it is not a recording.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "recording_files.h"

#define MAX_PATH_PARTS 16

static char *recordings_dir = NULL;

typedef struct PendingRemoval
{
	char	   *path;			/* relative to recordings_dir, already checked */
	int			nest_level;		/* subtransaction that queued it */
} PendingRemoval;

static List *pending = NIL;		/* in TopTransactionContext */
static bool callbacks_registered = false;

void
ccroute_define_recording_settings(void)
{
	DefineCustomStringVariable("ccroute.recordings_dir",
							   "Folder holding the recordings' files.",
							   "Recordings' paths are relative to it; nothing outside it is ever removed.",
							   &recordings_dir,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

/* NULL when the path is made of plain names; otherwise why not. */
static const char *
path_problem(const char *path)
{
	const char *p = path;
	int			parts = 0;

	if (path[0] == '\0')
		return "the path is empty";
	if (path[0] == '/')
		return "the path is absolute";
	if (strlen(path) > 1024)
		return "the path is longer than 1024 bytes";
	while (*p)
	{
		const char *end = strchr(p, '/');
		size_t		len = end ? (size_t) (end - p) : strlen(p);

		if (len == 0)
			return "the path has an empty part";
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return "the path has a \".\" or \"..\" part";
		if (memchr(p, '\0', len) != NULL)
			return "the path has a NUL byte";
		if (++parts > MAX_PATH_PARTS)
			return "the path has too many parts";
		if (!end)
			break;
		p = end + 1;
		if (*p == '\0')
			return "the path ends with a slash";
	}
	return NULL;
}

/*
 * Opens the directory holding the path's last part, walking from the recordings folder without
 * following any symbolic link. Returns the directory's descriptor (or -1 with *problem set) and
 * the last part's name in *leaf (palloc'd).
 */
static int
open_parent(const char *path, char **leaf, const char **problem)
{
	int			dir;
	char	   *copy = pstrdup(path);
	char	   *p = copy;
	char	   *slash;

	*problem = NULL;
	if (recordings_dir == NULL || recordings_dir[0] != '/')
	{
		*problem = "ccroute.recordings_dir is not set to an absolute path";
		return -1;
	}
	/* The folder itself is the operator's choice and may be reached through a link. */
	dir = open(recordings_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
	{
		*problem = "the recordings folder cannot be opened";
		return -1;
	}
	while ((slash = strchr(p, '/')) != NULL)
	{
		int			next;

		*slash = '\0';
		next = openat(dir, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
		{
			int			err = errno;

			close(dir);
			if (err == ENOENT)
				*problem = "missing";
			else if (err == ELOOP || err == ENOTDIR)
				*problem = "a folder on the path is a symbolic link or not a folder";
			else
				*problem = "a folder on the path cannot be opened";
			return -1;
		}
		close(dir);
		dir = next;
		p = slash + 1;
	}
	*leaf = pstrdup(p);
	return dir;
}

/*
 * NULL when the file may be removed, "missing" when there is nothing to remove, else why not.
 * With dir_out, a file that may be removed is left with its folder open in *dir_out (for the
 * caller to remove it from that very folder, no link followed) and its name in *leaf_out.
 */
static const char *
examine(const char *path, int *dir_out, char **leaf_out)
{
	const char *problem = path_problem(path);
	char	   *leaf;
	int			dir;
	struct stat st;

	if (problem)
		return problem;
	dir = open_parent(path, &leaf, &problem);
	if (dir < 0)
		return problem;
	if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
		problem = (errno == ENOENT) ? "missing" : "the file cannot be examined";
	else if (S_ISLNK(st.st_mode))
		problem = "the file is a symbolic link";
	else if (!S_ISREG(st.st_mode))
		problem = "the path is not a regular file";
	if (problem == NULL && dir_out != NULL)
	{
		*dir_out = dir;
		*leaf_out = leaf;
		return NULL;
	}
	close(dir);
	return problem;
}

/* Removes the file, then the folders the removal left empty (never the recordings folder). */
static void
remove_now(const char *path)
{
	char	   *leaf;
	const char *problem;
	int			dir;
	char	   *copy;
	char	   *slash;

	problem = examine(path, &dir, &leaf);
	if (problem != NULL)
	{
		if (strcmp(problem, "missing") != 0)
			ereport(WARNING,
					(errmsg("recording file \"%s\" was not removed: %s", path, problem)));
		return;
	}
	if (unlinkat(dir, leaf, 0) != 0)
		ereport(WARNING,
				(errmsg("recording file \"%s\" could not be removed: %m", path)));
	close(dir);

	copy = pstrdup(path);
	while ((slash = strrchr(copy, '/')) != NULL)
	{
		char	   *parent_leaf;

		*slash = '\0';
		dir = open_parent(copy, &parent_leaf, &problem);
		if (dir < 0)
			break;
		/* Fails harmlessly while the folder still holds something. */
		if (unlinkat(dir, parent_leaf, AT_REMOVEDIR) != 0)
		{
			close(dir);
			break;
		}
		close(dir);
	}
}

static void
recording_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that removes recording files")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			foreach(lc, pending)
				remove_now(((PendingRemoval *) lfirst(lc))->path);
			pending = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NIL;		/* its memory goes with the transaction */
			break;
		default:
			break;
	}
}

static void
recording_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending)
		{
			if (((PendingRemoval *) lfirst(lc))->nest_level >= level)
				pending = foreach_delete_current(pending, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending)
		{
			PendingRemoval *r = lfirst(lc);

			if (r->nest_level >= level)
				r->nest_level = level - 1;
		}
	}
}

PG_FUNCTION_INFO_V1(ccroute_recording_file_problem);

/* Why a recording's file could not be removed now; NULL when it could, 'missing' when absent. */
Datum
ccroute_recording_file_problem(PG_FUNCTION_ARGS)
{
	const char *problem = examine(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL, NULL);

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

PG_FUNCTION_INFO_V1(ccroute_remove_recording_file);

/*
 * Queues the file's removal for the commit of the current transaction. Returns NULL when queued,
 * 'missing' when there is no file, or why it is refused (nothing queued); never an error, so the
 * maintenance can keep a refused recording's row and go on with the others.
 */
Datum
ccroute_remove_recording_file(PG_FUNCTION_ARGS)
{
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *problem = examine(path, NULL, NULL);
	MemoryContext old;
	PendingRemoval *r;

	if (problem != NULL)
		PG_RETURN_TEXT_P(cstring_to_text(problem));
	if (!callbacks_registered)
	{
		RegisterXactCallback(recording_xact_callback, NULL);
		RegisterSubXactCallback(recording_subxact_callback, NULL);
		callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	r = palloc(sizeof(PendingRemoval));
	r->path = pstrdup(path);
	r->nest_level = GetCurrentTransactionNestLevel();
	pending = lappend(pending, r);
	MemoryContextSwitchTo(old);
	PG_RETURN_NULL();
}
