#include <signal.h>
#include <string.h>

#include "cast_signal.h"


volatile sig_atomic_t  cast_quit;


static void
cast_signal_handler(int signo)
{
    (void) signo;

    cast_quit = 1;
}


void
cast_signal_init(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);

    /* no SA_RESTART: a blocking wait returns EINTR and the loop sees it */
    sa.sa_handler = cast_signal_handler;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
