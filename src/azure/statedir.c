/* azcmk's state directory: private to its user, and files in it opened without
 * following links. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"
#include "jx.h"
#include "statedir.h"
#include "xalloc.h"

/* Returns the state directory: $XDG_STATE_HOME/azcmk, else
 * ~/.local/state/azcmk. */
char *cmk_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (xdg && *xdg)
		return xasprintf("%s/azcmk", xdg);
	return xasprintf("%s/.local/state/azcmk", home ? home : ".");
}

/* Returns the path of a file in azcmk's state directory. */
char *cmk_state_path(const char *name)
{
	char *dir = cmk_state_dir(), *path = xasprintf("%s/%s", dir, name);

	free(dir);
	return path;
}

/* Creates the directories above a file (mode 0700: journals name resources). */
void cmk_make_dirs(const char *file)
{
	char *d = xstrdup(file);

	for (char *p = d + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(d, 0700);
			*p = '/';
		}
	free(d);
}

/*
 * Checks that the directory holding a file is azcmk's alone: a real
 * directory (not a link), owned by this user, that no other user can write.
 * Creates it (0700) when missing. Returns false with *err saying what to do.
 */
bool cmk_private_dir(const char *file, char **err)
{
	char *dir = xstrdup(file), *slash = strrchr(dir, '/');
	struct stat st;
	bool ok = false;

	if (slash)
		*slash = '\0';
	cmk_make_dirs(file);
	if (lstat(slash ? dir : ".", &st) != 0)
		*err = xasprintf(_("cannot use the state directory '%s': %s"),
				 dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		*err = xasprintf(
			_("the state directory '%s' is not a directory (a link "
			  "or a file is there); remove it and "
			  "run azcmk again"),
			dir);
	else if (st.st_uid != geteuid())
		*err = xasprintf(
			_("the state directory '%s' belongs to another user; "
			  "azcmk keeps journals only in a "
			  "directory of its own user"),
			dir);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		*err = xasprintf(_("the state directory '%s' can be written by "
				   "other users (mode %03o), who could change "
				   "journals and plans there; make it private: "
				   "chmod 700 '%s'"),
				 dir, (unsigned)(st.st_mode & 0777), dir);
	else
		ok = true;
	free(dir);
	return ok;
}

/*
 * Opens a file in the state directory without following a link, and checks
 * that it is a regular file of this user that no one else can write.
 * Returns the descriptor, or -1 with *err set (errno ENOENT: it is missing).
 */
int cmk_open_private(const char *path, int flags, char **err)
{
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0) {
		int saved = errno;

		*err = saved == ELOOP
			       ? xasprintf(
					 _("'%s' is a symbolic link; azcmk "
					   "does not follow links in its state "
					   "directory: remove it"),
					 path)
			       : xasprintf(_("cannot open '%s': %s"), path,
					   strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		*err = xasprintf(
			_("'%s' is not a private file of this user (it must be "
			  "a regular file, mode 0600); remove "
			  "it or fix its mode"),
			path);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Writes all of a buffer; false on a short write. */
static bool write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, text, len);

		if (w <= 0)
			return false;
		text += w;
		len -= (size_t)w;
	}
	return true;
}

/*
 * Writes a file in the state directory atomically: a new private file
 * (0600, created exclusively, not through a link) renamed over the path.
 */
bool cmk_write_private(const char *path, const char *text, char **err)
{
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	int fd;
	bool ok;

	if (!cmk_private_dir(path, err)) {
		free(tmp);
		return false;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	ok = fd >= 0 && write_all(fd, text, strlen(text)) && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok) {
		*err = xasprintf(_("cannot write '%s': %s"), path,
				 strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

/*
 * Keeps a plan in the state directory, as ID.plan.json (mode 0600: plans
 * name resources), for apply and --resume; returns its path, or NULL with
 * *err saying why.
 */
char *cmk_keep_plan(const struct plan *p, char **err)
{
	char *name = xasprintf("%s.plan.json", p->id),
	     *path = cmk_state_path(name);
	struct json_object *j = plan_to_json(p);
	const char *text = json_object_to_json_string_ext(
		j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!cmk_write_private(path, text, err)) {
		free(path);
		path = NULL;
	}
	json_object_put(j);
	free(name);
	return path;
}

/* Returns the path of the change history, in the state directory. */
char *cmk_history_path(void)
{
	return cmk_state_path("history.jsonl");
}

/*
 * Appends one entry to the change history: a private file, never through a
 * link, locked while the line is written and synced, so concurrent runs
 * never interleave their lines.
 */
bool cmk_history_append(struct json_object *entry, char **err)
{
	char *path = cmk_history_path();
	int fd = cmk_private_dir(path, err)
			 ? cmk_open_private(path, O_WRONLY | O_APPEND | O_CREAT,
					    err)
			 : -1;
	bool ok = fd >= 0;

	if (ok) {
		char *line = xasprintf(
			"%s\n",
			json_object_to_json_string_ext(
				entry, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
		ok = flock(fd, LOCK_EX) == 0 &&
		     write_all(fd, line, strlen(line)) && fsync(fd) == 0;
		if (!ok)
			*err = xasprintf(
				_("cannot write the change history '%s': %s"),
				path, strerror(errno));
		free(line);
		close(fd);
	}
	free(path);
	return ok;
}
