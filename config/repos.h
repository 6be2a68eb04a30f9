/*
 * Repository aliases: the repositories a bisection may name, by alias, in the same INI files as
 * the rest of the configuration. The web (the dashboard's on-demand requests) only ever names an
 * alias; paths, commit URLs and test commands come from these sections, never from a request.
 *
 *   [repos]                  alias = path of a git work tree (~/ expands to $HOME)
 *   linux-stable = ~/src/linux-stable
 *   [repo_web]               alias = URL of one commit, %s for its full id (exactly one %s)
 *   linux-stable = https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git/commit/?id=%s
 *   [repo_test]              alias = a test command for --test-cmd bisections of that alias
 *   linux-stable = make -j2 && ./run-test.sh
 *
 * An alias is 1..64 bytes of [A-Za-z0-9._-], not starting with '.' or '-'. Every error names
 * the key (config_load adds the file and the line).
 *
 * config_load() reads these sections into config->repos (NULL while no file has any); a file of
 * its own can be read with repos_load(). Lookups accept a NULL struct repos (no alias known).
 * Nothing here blocks or runs git.
 */
#ifndef PVLAB_CONFIG_REPOS_H
#define PVLAB_CONFIG_REPOS_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct repos;

/* 1 when section is one of repos, repo_web, repo_test (sections this module owns). */
int repos_section(const char *section);
/*
 * Sets one key of one of those sections in *r (allocating *r on first use; a later value for
 * the same alias replaces the earlier). ERR_CONFIG with the reason otherwise.
 */
int repos_set(struct repos **r, const char *section, const char *alias, const char *value,
              struct err *e);
/* Reads [repos], [repo_web] and [repo_test] of one INI file into *r (other sections ignored). */
int repos_load(const char *path, struct repos **r, struct err *e);
/* Frees r (NULL accepted). */
void repos_free(struct repos *r);

/* 1 when alias is well formed (it may still be unknown). */
int repos_alias_valid(const char *alias);
/* The path of alias, or NULL when it has none. Owned by r. */
const char *repos_path(const struct repos *r, const char *alias);
/* The test command of alias, or NULL. Owned by r. */
const char *repos_test_cmd(const struct repos *r, const char *alias);
/*
 * Appends the web URL of commit in alias's repository to out; returns 1, or 0 (out unchanged)
 * when alias has no [repo_web] URL or commit is not a full hex object id.
 */
int repos_commit_url(const struct repos *r, const char *alias, const char *commit, struct buf *out);
/* The aliases that have a path, in file order, for error messages ("a, b"; "none"). */
void repos_names(const struct repos *r, struct buf *out);
/* Number of aliases with a path. */
size_t repos_count(const struct repos *r);

#endif
