/* supervisor.c — sd_notify messages to systemd (see supervisor.h). */
#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "supervisor.h"

void cds_supervisor_ready(const char *status)
{
    /* < 0: the socket named by NOTIFY_SOCKET could not be written: systemd will time the start out,
     * which the log should explain. 0: not under systemd. */
    if (sd_notifyf(0, "READY=1\nSTATUS=%s", status) < 0)
        cds_log(CDS_LOG_WARN, "sd_notify READY=1 failed: systemd will not see the service as started");
}

void cds_supervisor_reloading(void) { sd_notify(0, "RELOADING=1\nSTATUS=reloading the rule set"); }

void cds_supervisor_stopping(void) { sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

long cds_supervisor_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return 0;
    long ms = (long)(usec / 2000);
    return ms > 0 ? ms : 1;
}

void cds_supervisor_alive(void) { sd_notify(0, "WATCHDOG=1"); }
