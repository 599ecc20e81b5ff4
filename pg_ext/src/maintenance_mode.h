/*
 * maintenance_mode.h: the setting that lets the owner's maintenance delete past retention.
 */
#ifndef CCROUTE_MAINTENANCE_MODE_H
#define CCROUTE_MAINTENANCE_MODE_H

extern void ccroute_define_maintenance_mode(void);

#endif
