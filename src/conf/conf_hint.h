/*
 * conf_hint - what to write instead of an unknown key that other software
 * (or a first guess) uses for the same thing: "password" in an upstream
 * is password_file, "server" is host.  Pure.
 */
#ifndef GW_CONF_HINT_H
#define GW_CONF_HINT_H

/*
 * conf_key_hint - the fix for key in a section of kind ("gateway",
 * "listener", "upstream", "dkim"), or NULL when there is none to give.
 */
const char	*conf_key_hint(const char *kind, const char *key);

#endif
