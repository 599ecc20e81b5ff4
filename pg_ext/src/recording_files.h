/*
 * recording_files.h: removing recordings' files, safely and only once the deletion commits.
 */
#ifndef CCROUTE_RECORDING_FILES_H
#define CCROUTE_RECORDING_FILES_H

extern void ccroute_define_recording_settings(void);

#endif
