/*
 * conf_check - what the cross-check files share (internal to src/conf):
 * conf_check.c runs them all, conf_route_check.c holds those of the
 * upstream lists, the routes and delivery = queue.
 */
#ifndef GW_CONF_CHECK_H
#define GW_CONF_CHECK_H

#include "conf/conf.h"

struct check {
	const struct gw_conf	*conf;
	conf_error_fn		 err;
	void			*arg;
	int			 nerr;
};

/* conf_cerr - report one error as "FILE:LINE: text", like conf.c */
void	conf_cerr(struct check *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * conf_check_lists - resolve every listener's and route's upstream list
 * (listener upstream pointers included) and check what the lists, the
 * routes and delivery = queue allow.
 */
void	conf_check_lists(struct check *, struct gw_conf *);

/*
 * conf_check_smime - resolve the listeners' smime lists and check the
 * [smime] sections (conf_smime_check.c)
 */
void	conf_check_smime(struct check *, struct gw_conf *);

/* conf_upstream_listed - 1 if a listener or a route lists upstream u */
int	conf_upstream_listed(const struct gw_conf *, const char *u);

#endif
