/*
 * SIGTERM and SIGINT only set cast_quit; the daemon loops check it.
 * SIGPIPE is ignored so a dead peer is an error return, not a death.
 */

#ifndef CAST_SIGNAL_H
#define CAST_SIGNAL_H

#include <signal.h>


extern volatile sig_atomic_t  cast_quit;


void cast_signal_init(void);


#endif /* CAST_SIGNAL_H */
