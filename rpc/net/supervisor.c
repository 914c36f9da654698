/* supervisor.c — sd_notify messages to systemd (see supervisor.h). */
#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "supervisor.h"

/* A reload runs on the main loop, which then sends no WATCHDOG=1: for its length the watchdog is
 * widened to this (a reload that hangs is still caught), and set back by the READY=1 after it. */
#define RELOAD_WATCHDOG_USEC (300ull * 1000000)

static uint64_t watchdog_usec;   /* the unit's WatchdogSec in microseconds; 0: no watchdog */

void cds_supervisor_ready(const char *status)
{
    /* < 0: the socket named by NOTIFY_SOCKET could not be written: systemd will time the start out,
     * which the log should explain. 0: not under systemd. */
    int rc = watchdog_usec ? sd_notifyf(0, "READY=1\nSTATUS=%s\nWATCHDOG=1\nWATCHDOG_USEC=%llu", status,
                                        (unsigned long long)watchdog_usec)
                           : sd_notifyf(0, "READY=1\nSTATUS=%s", status);
    if (rc < 0) cds_log(CDS_LOG_WARN, "start", "sd_notify READY=1 failed: systemd will not see the service as ready");
}

void cds_supervisor_reloading(void)
{
    if (watchdog_usec && watchdog_usec < RELOAD_WATCHDOG_USEC)
        sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the rule set\nWATCHDOG=1\nWATCHDOG_USEC=%llu",
                   RELOAD_WATCHDOG_USEC);
    else
        sd_notify(0, "RELOADING=1\nSTATUS=reloading the rule set");
}

void cds_supervisor_stopping(void) { sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

long cds_supervisor_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return 0;
    watchdog_usec = usec;
    long ms = (long)(usec / 2000);
    return ms > 0 ? ms : 1;
}

void cds_supervisor_alive(void) { sd_notify(0, "WATCHDOG=1"); }
