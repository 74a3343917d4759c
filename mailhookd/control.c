/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The control socket, served by the parent.  A client sends one
 * IMSG_CTL_REQUEST with {"argv":[...]} and receives IMSG_CTL_REPLY JSON
 * ("monitor" keeps receiving).  The peer's uid decides what it may do:
 * mutating commands are root's.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "ctlcmd.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "mailhookd.h"
#include "redis_link.h"

#define CTL_MAX_CLIENTS	64	/* of the control group's users; root
				   has as many more of its own */
#define CTL_MAX_WORDS	16
/* a request: 16 words of CTL_MAX_WORD bytes, each \u00XX in JSON */
#define CTL_MAX_REQUEST	(64 * 1024)
#define CTL_METRICS_SECS 3	/* a process slower than this is not up */
#define CTL_ANSWER_SECS	20	/* a command's answer: "has not answered" */
#define CTL_MAX_SCRAPES	16	/* webd's scrapes at once (it keeps 8) */
#define CTL_MAX_UNREAD	4096	/* events a monitor leaves unread */
#define CTL_MAX_UNREAD_BYTES (8 * MH_IMSG_MAXSIZE)	/* and their bytes */
#define CTL_MAX_UNASKED	16	/* replies a client leaves unread */
/* and the bytes of them: a reply may take a whole message (show queue) */
#define CTL_MAX_UNSENT	(2 * MH_IMSG_MAXSIZE)
#define CTL_IDLE_SECS	60	/* a connection with nothing asked */

struct ctl_client {
	TAILQ_ENTRY(ctl_client)	 entry;
	uint32_t		 id;
	uid_t			 uid;
	struct mproc		*mp;
	int			 monitor;
	int			 waiting;	/* replies still expected */
	json_t			*collected;	/* fan-out replies */
	int			 merge;		/* one answer of two
						   processes */
	int			 done;
	int			 metrics;	/* show metrics:
						   with a deadline */
	int			 asked[PROC_CONTROL]; /* processes asked */
	uint32_t		 scrape;	/* webd's scrape (mp NULL) */
	struct event		*deadline;
	struct event		*idle;		/* CTL_IDLE_SECS */
	int			 fd;		/* a child's, for the
						   reply; -1 */
	int			 fdproc;	/* the child that gave it */
	int			 fdclash;	/* another gave one too */
};
TAILQ_HEAD(, ctl_client)	 clients = TAILQ_HEAD_INITIALIZER(clients);

static int		 ctl_fd = -1;
static char		 ctl_path[MH_PATH_MAX];
static struct event	*ctl_ev;
static struct event	*ctl_pause;	/* accept at EMFILE: a second off */
static uint32_t		 ctl_ids;
static int		 ctl_nclients;
static int		 ctl_nusers;	/* of them, not root's */

static void	ctl_free(struct ctl_client *);
static struct ctl_client *ctl_find(uint32_t);

static void
ctl_send(struct ctl_client *c, json_t *reply)
{
	struct mproc	*webd = children[PROC_WEBD].mp;

	if (c->mp != NULL) {
		/* an fd a child gave for the reply (show message ID --raw) */
		mproc_send_reply(c->mp, IMSG_CTL_REPLY, 0, c->fd, reply);
		c->fd = -1;
		json_decref(reply);
		return;
	}
	/* webd's scrape: answered once, then forgotten */
	if (webd != NULL && !webd->closed)
		mproc_send_json(webd, IMSG_METRICS_RES, c->scrape, reply);
	json_decref(reply);
	ctl_free(c);
}

/* tell the children when the first monitor comes or the last goes */
static void
ctl_monitors_changed(void)
{
	static int		 was;
	struct ctl_client	*c;
	int			 on = 0;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->monitor)
			on = 1;
	if (on != was)
		parent_monitor(on);
	was = on;
}

static void
ctl_free(struct ctl_client *c)
{
	int	 monitor = c->monitor;

	TAILQ_REMOVE(&clients, c, entry);
	if (c->fd != -1)
		close(c->fd);
	json_decref(c->collected);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->idle != NULL)
		event_free(c->idle);
	if (c->mp != NULL)
		mproc_free(c->mp);
	if (c->mp != NULL && c->uid != 0)
		ctl_nusers--;
	free(c);
	ctl_nclients--;
	if (monitor)
		ctl_monitors_changed();
}

static void
ctl_lost(struct mproc *mp)
{
	struct ctl_client	*c;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->mp == mp) {
			ctl_free(c);
			return;
		}
}

/* relayd's link to the cluster's Redis, as it last said */
static struct cluster_link	 cluster_link;

void
control_cluster_link(const struct cluster_link *cl)
{
	cluster_link = *cl;
}

static json_t *
ctl_cluster(void)
{
	if (parent_conf == NULL || parent_conf->cluster.redis[0] == '\0')
		return (json_pack("{s:s}", "link", "off"));
	return (json_pack("{s:s, s:s, s:I, s:s}", "node",
	    parent_conf->cluster.node[0] ? parent_conf->cluster.node :
	    parent_conf->hostname, "link", cluster_link.state[0] ?
	    cluster_link.state : "linking", "since",
	    (json_int_t)cluster_link.since, "error", cluster_link.error));
}

static json_t *
ctl_status(void)
{
	json_t		*procs, *o;
	struct child	*ch;
	time_t		 now = time(NULL);
	int		 p;

	procs = json_array();
	json_array_append_new(procs, json_pack("{s:s,s:i,s:I,s:s,s:b}",
	    "name", "parent", "pid", (int)getpid(),
	    "uptime", (json_int_t)(now - parent_started),
	    "confinement", geteuid() == 0 ? "none (root)" : "none",
	    "ready", 1));
	for (p = PROC_SMTPD; p < PROC_CONTROL; p++) {
		ch = &children[p];
		json_array_append_new(procs, json_pack("{s:s,s:i,s:I,s:s,s:b}",
		    "name", proc_name(p), "pid", (int)ch->pid,
		    "uptime", (json_int_t)(ch->pid ? now - ch->started : 0),
		    "confinement", ch->confinement, "ready", ch->ready));
	}
	o = json_pack("{s:s,s:s,s:o,s:o}", "version", MH_VERSION,
	    "config", parent_opts.conffile, "processes", procs,
	    "cluster", ctl_cluster());
	return (o);
}

static json_t *
ctl_routes(void)
{
	json_t			*a = json_array();
	const struct route	*r;
	static const char	*fmt[] = { "json", "multipart", "raw" };
	static const char	*match[] = { "address", "domain", "subdomains",
				    "any" };

	char			 url[MH_URL_MAX], authz[MH_URL_MAX];

	/* no password or token of a URL in what mhctl shows */
	TAILQ_FOREACH(r, &parent_conf->routes, entry) {
		config_url_public(r->url, url, sizeof(url));
		config_url_public(r->authorize, authz, sizeof(authz));
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,"
		    "s:s}", "id", (json_int_t)r->id, "match", match[r->match],
		    "pattern", r->pattern, "url", url,
		    "format", fmt[r->format],
		    "mode", r->mode == MODE_SYNC ? "sync" : "queue",
		    "authorize", authz));
	}
	return (json_pack("{s:o}", "routes", a));
}

/*
 * The configuration as mailhook.conf text, secrets masked; what the last
 * reload left for the next restart (a listener not bound yet) said
 * first, as a comment, and as at_restart.
 */
static json_t *
ctl_config(void)
{
	const char	*pending = parent_restart_pending();
	json_t		*o;
	char		*text, *t;

	if ((text = config_print(parent_conf)) == NULL)
		return (json_pack("{s:s}", "error", "out of memory"));
	if (pending[0] != '\0') {
		if (asprintf(&t, "# not in effect until the next restart: "
		    "%s\n%s", pending, text) == -1) {
			free(text);
			return (json_pack("{s:s}", "error", "out of memory"));
		}
		free(text);
		text = t;
	}
	o = json_pack("{s:s,s:s}", "file", parent_opts.conffile, "config",
	    text);
	if (o != NULL && pending[0] != '\0')
		json_object_set_new(o, "at_restart", json_string(pending));
	free(text);
	return (o);
}

static json_t *
ctl_parent(struct ctl_client *c, const struct ctl_cmd *cmd, const char *arg,
    const char *arg2)
{
	char	err[1024];
	int	p, how;

	switch (cmd->id) {
	case CTL_SHOW_STATUS:
		return (ctl_status());
	case CTL_SHOW_ROUTES:
		return (ctl_routes());
	case CTL_SHOW_CONFIG:
		return (ctl_config());
	case CTL_RELOAD:
		/* answered once the children have it: control_reload_done */
		c->waiting = 1;
		if (parent_reload(err, sizeof(err), c->id) == -1) {
			c->waiting = 0;
			return (json_pack("{s:s}", "error", err));
		}
		return (json_null());
	case CTL_LOG_VERBOSE:
	case CTL_LOG_BRIEF:
		parent_verbose(cmd->id == CTL_LOG_VERBOSE);
		return (json_pack("{s:s}", "log", cmd->w2));
	case CTL_MONITOR:
		c->monitor = 1;
		ctl_monitors_changed();
		return (json_pack("{s:s}", "monitor", "started"));
	case CTL_DEBUG:
		/* test trigger, only in a daemon started with -X */
		if (!parent_opts.testing)
			return (json_pack("{s:s}", "error",
			    "debug commands need mailhookd -X"));
		/* debug PROCESS [exec]: a forbidden call, or PROT_EXEC */
		if ((p = proc_byname(arg)) < PROC_SMTPD || p >= PROC_CONTROL ||
		    (arg2 != NULL && strcmp(arg2, "exec") != 0))
			return (json_pack("{s:s}", "error",
			    "usage: debug PROCESS [exec]"));
		how = arg2 != NULL;
		mproc_compose(children[p].mp, IMSG_CTL_FORBIDDEN, 0, -1,
		    &how, sizeof(how));
		return (json_pack("{s:s}", "forbidden", arg));
	default:
		return (NULL);
	}
}

/*
 * The samples of every process ({"smtpd": [...], ...}) as one message
 * carries them: when all would take more than CTL_METRICS_BYTES of
 * JSON, the room is shared out, the smallest list first (what it leaves
 * of its share goes to the others), and a list over its share keeps
 * what fits and ends with a mailhook_metrics_dropped sample that counts
 * the others, with a log line when that number changes.
 */
static void
ctl_metrics_bound(json_t *procs)
{
	static json_t	*said;		/* process: what the log said */
	char		 name[PROC_MAX][32];
	size_t		 size[PROC_MAX], room = CTL_METRICS_BYTES, total = 0;
	size_t		 n = 0, i, k, share, used, dropped, len;
	const char	*proc;
	json_t		*samples, *cut, *sm;
	double		 v;

	json_object_foreach(procs, proc, samples) {
		if (n == PROC_MAX)
			break;
		len = json_dumpb(samples, NULL, 0, JSON_COMPACT) +
		    strlen(proc) + 4;
		total += len;
		/* in order of size */
		for (i = n++; i > 0 && size[i - 1] > len; i--) {
			size[i] = size[i - 1];
			memcpy(name[i], name[i - 1], sizeof(name[i]));
		}
		size[i] = len;
		strlcpy(name[i], proc, sizeof(name[i]));
	}
	if (said == NULL && (said = json_object()) == NULL)
		fatal("control: metrics");
	if (total <= room) {
		json_object_clear(said);
		return;
	}
	for (i = 0; i < n; i++) {
		share = room / (n - i);
		if (size[i] <= share) {
			json_object_del(said, name[i]);
			room -= size[i];
			continue;
		}
		/* its key, and the sample that counts the others */
		used = strlen(name[i]) + 4 + 128;
		dropped = 0;
		cut = json_array();
		samples = json_object_get(procs, name[i]);
		json_array_foreach(samples, k, sm) {
			/* what the process left out itself */
			if ((v = metrics_sample_value(sm,
			    M_METRICS_DROPPED)) >= 0) {
				dropped += v < 1e15 ? (size_t)v : 0;
				continue;
			}
			ctl_list_add(cut, used > share ? NULL :
			    json_incref(sm), &used, share, &dropped);
		}
		if (json_integer_value(json_object_get(said, name[i])) !=
		    (json_int_t)dropped) {
			log_warnx("control: show metrics: %s's samples take "
			    "%zu bytes, more than one message carries with the "
			    "others': %zu left out", name[i], size[i], dropped);
			json_object_set_new(said, name[i],
			    json_integer((json_int_t)dropped));
		}
		metrics_sample(cut, M_METRICS_DROPPED, name[i], NULL,
		    (double)dropped);
		room -= share;
		json_object_set_new(procs, name[i], cut);
	}
}

/*
 * Each process's samples as the renderer takes them (metrics_check): a
 * process whose are malformed (a compromised one) would fail the whole
 * scrape, and webd with it; its samples are dropped, null as for one
 * that did not answer, and the parent says who sent them.
 */
void
control_metrics_check(json_t *procs)
{
	const char	*proc;
	json_t		*samples;
	void		*tmp;
	char		 err[128];

	json_object_foreach_safe(procs, tmp, proc, samples) {
		if (!json_is_array(samples) ||
		    metrics_check(samples, err, sizeof(err)) == 0)
			continue;
		log_warnx("control: metrics from %s: %s: dropped", proc, err);
		json_object_set_new(procs, proc, json_null());
	}
}

/* the file a child gave for the reply, not sent with it after all */
static void
ctl_fd_drop(struct ctl_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->fdclash = 0;
}

/*
 * "show metrics" (mhctl's or webd's scrape): every process's samples, or
 * null for one that has not answered by the deadline (the scrape must
 * not hang on a busy process; mailhook_process_up says who was missing).
 */
static void
ctl_metrics_done(struct ctl_client *c)
{
	json_t	*reply;
	int	 p;

	control_metrics_check(c->collected);
	for (p = PROC_SMTPD; p < PROC_CONTROL; p++)
		if (children[p].pid != 0 &&
		    json_object_get(c->collected, proc_name(p)) == NULL)
			json_object_set_new(c->collected, proc_name(p),
			    json_null());
	c->waiting = 0;
	c->id = ++ctl_ids;	/* a late answer finds no one (a next
				   command's answer it is not) */
	memset(c->asked, 0, sizeof(c->asked));
	ctl_fd_drop(c);		/* samples come with no file */
	event_free(c->deadline);
	c->deadline = NULL;
	ctl_metrics_bound(c->collected);
	reply = json_pack("{s:o}", "metrics", c->collected);
	c->collected = NULL;
	ctl_send(c, reply);
}

static void
ctl_metrics_deadline(evutil_socket_t fd, short ev, void *arg)
{
	ctl_metrics_done(arg);
}

/*
 * A process that has not answered a command in CTL_ANSWER_SECS (stopped,
 * or busy for that long): the client is told which, rather than left to
 * wait for ever; an answer that comes later is dropped (ctl_find).
 */
static void
ctl_answer_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_client	*c = arg;
	char			 who[128] = "", err[256];
	int			 p;

	/* those asked that have not answered */
	for (p = PROC_SMTPD; p < PROC_CONTROL; p++)
		if (c->asked[p]) {
			if (who[0] != '\0')
				strlcat(who, " and ", sizeof(who));
			strlcat(who, proc_name(p), sizeof(who));
		}
	memset(c->asked, 0, sizeof(c->asked));
	log_warnx("control: %s has not answered a command of uid %u in %d s",
	    who, (unsigned)c->uid, CTL_ANSWER_SECS);
	c->waiting = 0;
	c->id = ++ctl_ids;	/* its answer, if it comes, finds no one */
	event_free(c->deadline);
	c->deadline = NULL;
	json_decref(c->collected);
	c->collected = NULL;
	/* what one that answered gave goes with its answer, unsent */
	ctl_fd_drop(c);
	snprintf(err, sizeof(err), "%s has not answered in %d s (busy or "
	    "stopped): the command may still be carried out once it does",
	    who, CTL_ANSWER_SECS);
	ctl_send(c, json_pack("{s:s}", "error", err));
}

/*
 * The end of a reload asked by client id (parent.c reload_done): every
 * child has the new configuration (err ""), or err says who has not.
 * note: what waits for the next restart.
 */
void
control_reload_done(uint32_t id, const char *err, const char *note)
{
	struct ctl_client	*c;
	struct mproc		*mp;

	/* a client gone meanwhile, or a SIGHUP's reload: no one to tell */
	if (id == 0 || (c = ctl_find(id)) == NULL || c->waiting == 0)
		return;
	c->waiting = 0;
	mp = c->mp;
	if (err[0] != '\0')
		ctl_send(c, json_pack("{s:s}", "error", err));
	else if (note[0] != '\0')
		ctl_send(c, json_pack("{s:b,s:s}", "reloaded", 1,
		    "at_restart", note));
	else
		ctl_send(c, json_pack("{s:b}", "reloaded", 1));
	/* now: a stop (a child lost) may end the parent before its pass */
	if (mp != NULL)
		mproc_flush_now(mp);
}

static void
ctl_forward(struct ctl_client *c, const struct ctl_cmd *cmd, json_t *argv)
{
	struct timeval	 tv = { CTL_METRICS_SECS, 0 };
	json_t		*req;
	int		 p;

	req = json_pack("{s:O,s:b}", "argv", argv, "root", c->uid == 0);
	c->collected = json_object();
	c->merge = cmd->target2 != 0;
	c->waiting = 0;
	if (!(c->metrics = cmd->id == CTL_SHOW_METRICS))
		tv.tv_sec = CTL_ANSWER_SECS;
	if ((c->deadline = evtimer_new(proc_base, c->metrics ?
	    ctl_metrics_deadline : ctl_answer_deadline, c)) == NULL)
		fatalx("control: evtimer_new");
	evtimer_add(c->deadline, &tv);
	for (p = PROC_SMTPD; p < PROC_CONTROL; p++) {
		c->asked[p] = 0;
		if (cmd->target != CTL_CHILDREN && cmd->target != p &&
		    (cmd->target2 == 0 || cmd->target2 != p))
			continue;
		if (children[p].mp == NULL || children[p].mp->closed)
			continue;
		mproc_send_json(children[p].mp, IMSG_CTL_REQUEST, c->id, req);
		c->asked[p] = 1;
		c->waiting++;
	}
	json_decref(req);
	if (c->waiting == 0 && c->metrics)
		ctl_metrics_done(c);
	else if (c->waiting == 0) {
		event_free(c->deadline);
		c->deadline = NULL;
		ctl_send(c, json_pack("{s:s}", "error", "process not running"));
	}
}

/* IMSG_METRICS_REQ: webd's scrape, served as "show metrics" */
void
control_scrape(uint32_t scrape)
{
	const struct ctl_cmd	*cmd;
	const char		*words[] = { "show", "metrics" };
	struct ctl_client	*c;
	json_t			*argv;
	int			 n;

	/* webd keeps fewer waiting; more is not answered (webd says 503) */
	n = 0;
	TAILQ_FOREACH(c, &clients, entry)
		if (c->mp == NULL)
			n++;
	if (n >= CTL_MAX_SCRAPES) {
		log_warnx("control: webd asks for more than %d scrapes at once",
		    CTL_MAX_SCRAPES);
		return;
	}
	cmd = ctl_cmd_lookup(2, words);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("control: scrape");
	c->id = ++ctl_ids;
	c->uid = (uid_t)-1;
	c->fd = -1;
	c->scrape = scrape;
	TAILQ_INSERT_TAIL(&clients, c, entry);
	ctl_nclients++;
	argv = json_pack("[s,s]", words[0], words[1]);
	ctl_forward(c, cmd, argv);
	json_decref(argv);
}

/* the words of a command joined by spaces, cut at a bound ("...") */
static void
ctl_words_join(char *line, size_t size, const char **words, size_t n)
{
	size_t	 i, len = 0;
	int	 w;

	line[0] = '\0';
	for (i = 0; i < n && len < size; i++) {
		w = snprintf(line + len, size - len, "%s%s", i > 0 ? " " : "",
		    words[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	if (len >= size)
		memcpy(line + size - 4, "...", 4);
}

/*
 * Who asked for what: a command that changes something is logged at info
 * (the administrator's record of who reloaded, removed or suppressed),
 * the others at debug; one refused is a warning.  The log sanitizes the
 * words as it does every line.
 */
static void
ctl_log_command(struct ctl_client *c, const struct ctl_cmd *cmd,
    const char **words, size_t n, int refused)
{
	char	 line[256];

	ctl_words_join(line, sizeof(line), words, n);
	if (refused)
		log_warnx("control: uid %u refused \"%s\"", (unsigned)c->uid,
		    line);
	else if (cmd->mutating)
		log_info("control: uid %u \"%s\"", (unsigned)c->uid, line);
	else
		log_debug("control: uid %u \"%s\"", (unsigned)c->uid, line);
}

static void
ctl_request(struct ctl_client *c, json_t *req)
{
	const struct ctl_cmd	*cmd;
	json_t			*argv, *reply;
	const char		*words[CTL_MAX_WORDS];
	size_t			 i, n;

	argv = json_object_get(req, "argv");
	if (!json_is_array(argv) || json_array_size(argv) == 0 ||
	    json_array_size(argv) > CTL_MAX_WORDS) {
		ctl_send(c, json_pack("{s:s}", "error", "bad request"));
		return;
	}
	for (i = 0; i < json_array_size(argv); i++)
		if (!json_is_string(json_array_get(argv, i)) ||
		    json_string_length(json_array_get(argv, i)) >
		    CTL_MAX_WORD) {
			ctl_send(c, json_pack("{s:s}", "error", "bad request"));
			return;
		}
	for (i = 0; i < json_array_size(argv); i++)
		words[i] = json_string_value(json_array_get(argv, i));
	n = json_array_size(argv);
	if ((cmd = ctl_cmd_lookup(n, words)) == NULL ||
	    cmd->target == CTL_MHCTL) {
		ctl_send(c, json_pack("{s:s}", "error", "unknown command"));
		return;
	}
	if (!ctl_cmd_args_ok(cmd, n)) {
		ctl_send(c, json_pack("{s:s}", "error",
		    "wrong number of arguments (see mhctl help)"));
		return;
	}
	if (cmd->mutating && c->uid != 0) {
		ctl_log_command(c, cmd, words, n, 1);
		ctl_send(c, json_pack("{s:s}", "error",
		    "permission denied: this command is root's"));
		return;
	}
	/* a reload, resume or schedule would restart what the stop ends */
	if (cmd->mutating && parent_stopping() && cmd->id != CTL_LOG_VERBOSE &&
	    cmd->id != CTL_LOG_BRIEF) {
		ctl_log_command(c, cmd, words, n, 1);
		ctl_send(c, json_pack("{s:s}", "error", "mailhookd is "
		    "stopping: only show and log commands are taken"));
		return;
	}
	ctl_log_command(c, cmd, words, n, 0);
	if (cmd->target == PROC_PARENT) {
		reply = ctl_parent(c, cmd, n > ctl_cmd_skip(cmd) ?
		    words[ctl_cmd_skip(cmd)] : NULL, n > ctl_cmd_skip(cmd) + 1 ?
		    words[ctl_cmd_skip(cmd) + 1] : NULL);
		if (reply == NULL)
			reply = json_pack("{s:s}", "error", "unknown command");
		/* null: answered later (reload) */
		if (json_is_null(reply))
			json_decref(reply);
		else
			ctl_send(c, reply);
		return;
	}
	ctl_forward(c, cmd, argv);
}

/*
 * A connection that asks nothing for CTL_IDLE_SECS is closed: else a
 * member of the control group could hold all its places for ever, and
 * keep the others out.  A monitor, or a request being answered, is not
 * idle.
 */
static void
ctl_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_client	*c = arg;
	struct timeval		 tv = { CTL_IDLE_SECS, 0 };

	if (c->monitor || c->waiting > 0) {
		evtimer_add(c->idle, &tv);
		return;
	}
	log_info("control: connection of uid %u idle for %d s, closing it",
	    (unsigned)c->uid, CTL_IDLE_SECS);
	ctl_free(c);
}

/* the bytes of what c has not read yet, and we could not send: kept
 * counted by the write queue (not walked for each event to a monitor) */
static size_t
ctl_unsent(const struct ctl_client *c)
{
	return (c->mp->ibuf.w.bytes);
}

static void
ctl_dispatch(struct mproc *mp, struct mh_imsg *imsg)
{
	struct ctl_client	*c;
	struct timeval		 tv = { CTL_IDLE_SECS, 0 };
	json_t			*req;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->mp == mp)
			break;
	if (c == NULL)
		return;
	evtimer_add(c->idle, &tv);
	/* one that asks and never reads: no more answers (ctl_unread) */
	if (c->mp->ibuf.w.queued >= CTL_MAX_UNASKED ||
	    ctl_unsent(c) >= CTL_MAX_UNSENT)
		return;
	if (imsg->hdr.type != IMSG_CTL_REQUEST || imsg->data == NULL ||
	    c->waiting > 0 ||
	    (req = json_loadb(imsg->data, MH_IMSG_DATA_SIZE(imsg), 0, NULL)) ==
	    NULL) {
		ctl_send(c, json_pack("{s:s}", "error", "bad request"));
		return;
	}
	ctl_request(c, req);
	json_decref(req);
}

static void
ctl_resume(evutil_socket_t fd, short ev, void *arg)
{
	event_add(ctl_ev, NULL);
}

static void
ctl_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_client	*c;
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	struct timeval		 tv = { 1, 0 }, idle = { CTL_IDLE_SECS, 0 };
	int			 s;

	if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			/* the connection stays queued: no spinning on it */
			log_warn("control: accept");
			event_del(ctl_ev);
			evtimer_add(ctl_pause, &tv);
		} else if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	/* the control group's users cannot fill root's places */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    (cred.uid != 0 ? ctl_nusers : ctl_nclients - ctl_nusers) >=
	    CTL_MAX_CLIENTS) {
		close(s);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(s);
		return;
	}
	c->id = ++ctl_ids;
	c->uid = cred.uid;
	c->fd = -1;
	if ((c->idle = evtimer_new(proc_base, ctl_idle, c)) == NULL)
		fatalx("control: evtimer_new");
	evtimer_add(c->idle, &idle);
	c->mp = mproc_new(s, PROC_CONTROL, ctl_dispatch);
	c->mp->lost = ctl_lost;
	/* mhctl sends no descriptor: a client that does is dropped */
	c->mp->ibuf.nofds = 1;
	/* nor a request larger than a command: so is one that says it
	 * is (else it kept up to 2 MB of ours waiting for the rest) */
	c->mp->ibuf.maxsize = CTL_MAX_REQUEST;
	TAILQ_INSERT_TAIL(&clients, c, entry);
	ctl_nclients++;
	if (c->uid != 0)
		ctl_nusers++;
}

/*
 * The control socket's directory: made 0755 if missing (whatever the
 * umask: the control group reaches the socket through it); refused if
 * another user's or others may write it (they could swap the socket),
 * or the socket's path is too long.  check (mailhookd -n): nothing made,
 * what a start refuses said; -1 then, else 0.
 */
int
control_dir(const char *path, int check)
{
	struct sockaddr_un	 sun;
	char			 dir[MH_PATH_MAX];
	struct stat		 st;
	int			 made = 1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return (start_refuse(check, "control socket path too long: %s",
		    path));
	strlcpy(dir, path, sizeof(dir));
	dirname(dir);
	if (check)
		made = 0;
	else if (mkdir(dir, 0755) == -1) {
		if (errno != EEXIST)
			fatal("mkdir %s", dir);
		made = 0;
	}
	if (stat(dir, &st) == -1) {
		if (check && errno == ENOENT)
			return (0);	/* a start makes it */
		return (start_refuse(check, "stat %s: %s", dir,
		    strerror(errno)));
	}
	if (made && (st.st_mode & 07777) != 0755) {
		if (chmod(dir, 0755) == -1)
			fatal("chmod %s", dir);
		st.st_mode = (st.st_mode & ~07777) | 0755;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return (start_refuse(check, "%s: owned by uid %u: refusing to "
		    "put the control socket there", dir, (unsigned)st.st_uid));
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return (start_refuse(check, "%s: writable by others: refusing "
		    "to put the control socket there", dir));
	return (0);
}

void
control_init(const char *path, const char *group)
{
	struct sockaddr_un	 sun;
	struct group		*gr;
	mode_t			 old;

	if (control_dir(path, 0) == -1)
		return;		/* not reached: fatal */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		fatal("control socket");
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	old = umask(S_IXUSR | S_IXGRP | S_IXOTH);
	if (bind(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	/*
	 * Root, and the control group if there is one, may connect (and so
	 * read); SO_PEERCRED decides who may change anything: root.
	 */
	if (group != NULL && group[0] != '\0') {
		if ((gr = getgrnam(group)) == NULL)
			fatalx("control group %s: no such group", group);
		if (chown(path, geteuid(), gr->gr_gid) == -1)
			fatal("chown %s", path);
	}
	if (chmod(path, group != NULL && group[0] != '\0' ? 0660 : 0600) ==
	    -1)
		fatal("chmod %s", path);
	if (listen(ctl_fd, 16) == -1)
		fatal("listen %s", path);
	strlcpy(ctl_path, path, sizeof(ctl_path));
	ctl_ev = event_new(proc_base, ctl_fd, EV_READ | EV_PERSIST, ctl_accept,
	    NULL);
	ctl_pause = evtimer_new(proc_base, ctl_resume, NULL);
	if (ctl_ev == NULL || ctl_pause == NULL)
		fatalx("control: event_new");
	event_add(ctl_ev, NULL);
}

void
control_cleanup(void)
{
	if (ctl_path[0] != '\0')
		unlink(ctl_path);
}

static struct ctl_client *
ctl_find(uint32_t id)
{
	struct ctl_client	*c;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->id == id)
			return (c);
	return (NULL);
}

/* an error reply that only says this process has no such message */
static int
ctl_no_such_reply(const json_t *r)
{
	const char	*e = json_string_value(json_object_get(r, "error"));

	return (e != NULL && strncmp(e, "no such message", 15) == 0);
}

/*
 * The answers of the two processes that serve a command (the outbound
 * and the inbound queue) as one: arrays under the same key joined.  A
 * process's error goes in "error", named by the process, beside what
 * the other answered (show queue's list of one queue is not the whole
 * queue); only one saying it has no such message is left out then.
 * When both answered an error: the one that knows the id says more
 * than "no such".
 */
json_t *
control_merge(json_t *replies)
{
	json_t		*out = json_object(), *r, *v, *have, *err = NULL;
	const char	*proc, *key, *e;
	char		 line[1024] = "";

	json_object_foreach(replies, proc, r) {
		if (!json_is_object(r) || json_object_get(r, "error") != NULL) {
			if (err == NULL || ctl_no_such_reply(err))
				err = r;
			if (ctl_no_such_reply(r))
				continue;
			e = json_string_value(json_object_get(r, "error"));
			if (line[0] != '\0')
				strlcat(line, "; ", sizeof(line));
			strlcat(line, proc, sizeof(line));
			strlcat(line, ": ", sizeof(line));
			strlcat(line, e != NULL ? e : "malformed reply",
			    sizeof(line));
			continue;
		}
		json_object_foreach(r, key, v) {
			have = json_object_get(out, key);
			if (have != NULL && json_is_array(have) &&
			    json_is_array(v))
				json_array_extend(have, v);
			else if (have == NULL)
				json_object_set(out, key, v);
		}
	}
	if (json_object_size(out) == 0 && err != NULL) {
		json_decref(out);
		return (json_incref(err));
	}
	if (line[0] != '\0')
		json_object_set_new(out, "error", json_string(line));
	return (out);
}

/*
 * Two processes each gave a file for the reply (show message ID --raw
 * of an ID that relayd's queue and hookd's both hold): which one is
 * meant cannot be told, the client is told so and gets neither.
 */
static void
ctl_fd_clash(struct ctl_client *c)
{
	char	 err[256];
	int	 a = c->fdproc, b = c->fdclash;

	/* in the processes' order, whichever answered first */
	snprintf(err, sizeof(err), "%s and %s both hold a message of that "
	    "ID: --raw cannot tell which to print", proc_name(a < b ? a : b),
	    proc_name(a < b ? b : a));
	log_warnx("control: %s (a command of uid %u)", err, (unsigned)c->uid);
	ctl_fd_drop(c);
	ctl_send(c, json_pack("{s:s}", "error", err));
}

/*
 * The one descriptor a child hands back with a reply (show message ID
 * --raw) is a message file it opened read-only: anything else, a
 * socket, a directory, a file it may write, is not passed on to mhctl.
 */
static void
ctl_reply_fd_check(enum mh_proc proc, int fd)
{
	struct stat	 st;
	int		 fl;

	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (fl = fcntl(fd, F_GETFL)) == -1 || (fl & O_ACCMODE) != O_RDONLY ||
	    (fl & O_PATH)) {
		close(fd);
		fatalx("CTL_REPLY from %s: a descriptor that is not a "
		    "regular file opened read-only", proc_name(proc));
	}
}

void
control_child_reply(enum mh_proc proc, struct mh_imsg *imsg)
{
	struct ctl_client	*c;
	json_t			*reply, *one;

	reply = msg_get_json(proc_peer[proc], imsg);
	ctl_reply_fd_check(proc, imsg->fd);
	/* after the deadline (a new id) or its client gone: dropped */
	if ((c = ctl_find(imsg->hdr.peerid)) == NULL) {
		log_info("control: a late answer of %s dropped",
		    proc_name(proc));
		if (imsg->fd != -1)
			close(imsg->fd);
		json_decref(reply);
		return;
	}
	/*
	 * Only a process asked (a command forwarded, its deadline running)
	 * and once: a reply for a client that asked it nothing, or a second
	 * one, is a peer's fault, as any unexpected message is.
	 */
	if (c->deadline == NULL || c->waiting == 0 || !c->asked[proc])
		fatalx("CTL_REPLY from %s: to no command it was asked",
		    proc_name(proc));
	c->asked[proc] = 0;
	if (imsg->fd != -1 && c->fd != -1) {
		/* both relayd and hookd hold a message of the ID (--raw) */
		close(imsg->fd);
		c->fdclash = proc;
	} else if (imsg->fd != -1) {
		c->fd = imsg->fd;	/* closed by ctl_free() if not sent */
		c->fdproc = proc;
	}
	if (c->metrics) {
		/* the samples alone; anything else is not an answer */
		json_object_set(c->collected, proc_name(proc),
		    json_is_array(json_object_get(reply, "metrics")) ?
		    json_object_get(reply, "metrics") : json_null());
		json_decref(reply);
		if (--c->waiting == 0)
			ctl_metrics_done(c);
		return;
	}
	json_object_set_new(c->collected, proc_name(proc), reply);
	if (--c->waiting > 0)
		return;
	event_free(c->deadline);
	c->deadline = NULL;
	if (c->fdclash) {
		ctl_fd_clash(c);
	} else if (c->merge && json_object_size(c->collected) > 1) {
		ctl_send(c, control_merge(c->collected));
	} else if (json_object_size(c->collected) == 1) {
		one = json_object_get(c->collected, proc_name(proc));
		json_incref(one);
		ctl_send(c, one);
	} else {
		ctl_send(c, c->collected);
		c->collected = NULL;
	}
	json_decref(c->collected);
	c->collected = NULL;
}

/*
 * A client that does not read what it is sent would have the parent keep
 * it all, without end: a monitor (piped into a pager left alone) is
 * closed past CTL_MAX_UNREAD events (or CTL_MAX_UNREAD_BYTES) waiting
 * for its socket; a client that only asks gets no more answers past
 * CTL_MAX_UNASKED replies or CTL_MAX_UNSENT bytes (ctl_dispatch): 16
 * answers to show queue, each up to a message, were 16 MB a client.
 */
static int
ctl_unread(struct ctl_client *c)
{
	if (c->mp == NULL || (c->mp->ibuf.w.queued < CTL_MAX_UNREAD &&
	    ctl_unsent(c) < CTL_MAX_UNREAD_BYTES))
		return (0);
	log_warnx("control: monitor of uid %u reads nothing of %u events "
	    "waiting, closing it", (unsigned)c->uid, c->mp->ibuf.w.queued);
	ctl_free(c);
	return (1);
}

/*
 * An event for the monitors, from hookd (every event) or webd (tracking):
 * it says which of them sent it, whatever the event claims.
 */
void
control_child_event(enum mh_proc proc, struct mh_imsg *imsg)
{
	struct ctl_client	*c, *tmp;
	json_t			*ev;
	char			*s;
	size_t			 len;

	if (proc != PROC_HOOKD && proc != PROC_WEBD)
		fatalx("unexpected CTL_LOG_EVENT from %s", proc_name(proc));
	ev = msg_get_json(proc_peer[proc], imsg);
	if (!json_is_object(ev))
		fatalx("CTL_LOG_EVENT from %s: malformed", proc_name(proc));
	json_object_set_new(ev, "process", json_string(proc_name(proc)));
	/* what the child left room for, but a write to a client is never
	 * fatal: one too large is dropped */
	s = mproc_json_fits(ev, IMSG_CTL_REPLY, 0, &len);
	json_decref(ev);
	if (s == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &clients, entry, tmp)
		if (c->monitor && !ctl_unread(c))
			mproc_compose(c->mp, IMSG_CTL_REPLY, 0, -1, s, len);
	free(s);
}
