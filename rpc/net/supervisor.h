/* supervisor.h — telling systemd (a Type=notify unit) how the service is doing, through
 * libsystemd's sd_notify: ready once the rules are loaded and the sockets listen, alive (the
 * watchdog) while the main loop turns, reloading, stopping. Each call does nothing when the
 * process was not started by systemd (no NOTIFY_SOCKET). Called from the main thread only. */
#ifndef CDS_SUPERVISOR_H
#define CDS_SUPERVISOR_H

/* READY=1, with a STATUS= line `systemctl status` shows (no patient data: pack name, counts);
 * after a reload it also sets the watchdog back to the unit's period. */
void cds_supervisor_ready(const char *status);
/* RELOADING=1: a reload has started on the main loop; the watchdog is widened to 5 minutes
 * until cds_supervisor_ready ends it. */
void cds_supervisor_reloading(void);
/* STOPPING=1: draining before exit. */
void cds_supervisor_stopping(void);
/* How often to call cds_supervisor_alive, in milliseconds: half the unit's WatchdogSec (from
 * WATCHDOG_USEC), or 0 when there is no watchdog. Call it once, before the first
 * cds_supervisor_ready. */
long cds_supervisor_watchdog_interval_ms(void);
/* WATCHDOG=1. */
void cds_supervisor_alive(void);

#endif
