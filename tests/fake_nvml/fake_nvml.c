/*
 * A tiny stand-in for libnvidia-ml.so.1, for tests only.
 *
 * State lives in a text file next to the library: "<path of this .so>.state", re-read on every
 * call so a test can change it between calls. Lines:
 *
 *   device <uuid> <minor> <energy_mj|NOT_SUPPORTED> <name...>
 *   init_sleep_ms <n>      (nvmlInit_v2 sleeps this long: simulates a hanging driver)
 *   init_rc <n>            (nvmlInit_v2 returns this code)
 *   query_sleep_ms <n>     (every device query sleeps this long: a driver that blocks after init)
 *   power_mw <n>           (energy counters advance by n mW since nvmlInit: a GPU drawing power)
 *   driver_version <text>  (nvmlSystemGetDriverVersion; default 535.183.01)
 *   pci <index> <bus id>   (nvmlDeviceGetPciInfo_v3 of device <index>; default
 *                           00000000:<0x10 + minor>:00.0, the bus rci-cluster's fake /proc uses)
 *   mig <index> <cur> <pending>  (nvmlDeviceGetMigMode; default NOT_SUPPORTED)
 *   util <index> <gpu%> <memory%> <used_mib>  (nvmlDeviceGetUtilizationRates and the memory
 *                           used of nvmlDeviceGetMemoryInfo; default 42 % / 7 % / 1024 MiB)
 *
 * Device handles are (index + 1) cast to a pointer. Each test copies the library to its own
 * directory, so every test has its own instance (dlopen keys on the file) and its own state.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEVICES 16
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999

typedef struct {
	char uuid[96];
	unsigned int minor;
	int energy_supported;
	unsigned long long energy_mj;
	char name[96];
	char bus_id[32];
	int mig_supported;
	unsigned int mig_current, mig_pending;
	unsigned int util_gpu, util_memory;
	unsigned long long memory_used_mib;
} fake_device;

typedef struct {
	long sleep_ms;
	int init_rc;
	long query_sleep_ms;
	unsigned long long power_mw;
	char driver_version[80];
} fake_settings;

typedef struct {
	char bus_id_legacy[16];
	unsigned int domain, bus, device, pci_device_id, pci_sub_system_id;
	char bus_id[32];
} fake_pci_info;

typedef struct {
	unsigned int gpu;
	unsigned int memory;
} fake_utilization;

/* nvmlMemory_t (version 1): bytes. */
typedef struct {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} fake_memory;

#define FAKE_MEMORY_TOTAL_MIB 46068ULL

static int initialised;
static struct timespec init_time;

static void sleep_ms_for(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

static int load_all(fake_device *devs, int *count, fake_settings *set)
{
	Dl_info info;
	char path[4096], line[512];
	FILE *f;
	fake_settings unused;
	long *sleep_ms;
	int *init_rc, i;
	unsigned int cur, pending, util_gpu, util_memory;
	unsigned long long used_mib;
	char bus_id[32];

	if (!set)
		set = &unused;
	memset(set, 0, sizeof(*set));
	snprintf(set->driver_version, sizeof(set->driver_version), "535.183.01");
	sleep_ms = &set->sleep_ms;
	init_rc = &set->init_rc;
	*count = 0;
	if (!dladdr((void *)load_all, &info) || !info.dli_fname)
		return -1;
	snprintf(path, sizeof(path), "%s.state", info.dli_fname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char energy[64];
		int name_at = 0;
		fake_device *d = &devs[*count];

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "init_sleep_ms %ld", sleep_ms) == 1)
			continue;
		if (sscanf(line, "init_rc %d", init_rc) == 1)
			continue;
		if (sscanf(line, "query_sleep_ms %ld", &set->query_sleep_ms) == 1)
			continue;
		if (sscanf(line, "power_mw %llu", &set->power_mw) == 1)
			continue;
		if (sscanf(line, "driver_version %79s", set->driver_version) == 1)
			continue;
		if (sscanf(line, "pci %d %31s", &i, bus_id) == 2) {
			if (i >= 0 && i < *count)
				memcpy(devs[i].bus_id, bus_id, sizeof(bus_id));
			continue;
		}
		if (sscanf(line, "mig %d %u %u", &i, &cur, &pending) == 3) {
			if (i >= 0 && i < *count) {
				devs[i].mig_supported = 1;
				devs[i].mig_current = cur;
				devs[i].mig_pending = pending;
			}
			continue;
		}
		if (sscanf(line, "util %d %u %u %llu", &i, &util_gpu, &util_memory, &used_mib) == 4) {
			if (i >= 0 && i < *count) {
				devs[i].util_gpu = util_gpu;
				devs[i].util_memory = util_memory;
				devs[i].memory_used_mib = used_mib;
			}
			continue;
		}
		if (*count < MAX_DEVICES &&
		    sscanf(line, "device %95s %u %63s %n", d->uuid, &d->minor, energy, &name_at) == 3 &&
		    name_at > 0) {
			d->energy_supported = strcmp(energy, "NOT_SUPPORTED") != 0;
			d->energy_mj = d->energy_supported ? strtoull(energy, NULL, 10) : 0;
			snprintf(d->name, sizeof(d->name), "%s", line + name_at);
			snprintf(d->bus_id, sizeof(d->bus_id), "00000000:%02x:00.0", 0x10 + d->minor);
			d->mig_supported = 0;
			d->util_gpu = 42;
			d->util_memory = 7;
			d->memory_used_mib = 1024;
			(*count)++;
		}
	}
	fclose(f);
	return 0;
}

static int load(fake_device *devs, int *count, long *sleep_ms, int *init_rc)
{
	fake_settings set;
	int rc = load_all(devs, count, &set);

	*sleep_ms = set.sleep_ms;
	*init_rc = set.init_rc;
	return rc;
}

/* Loads the state and finds the device behind a handle. */
static int device(void *handle, fake_device *out)
{
	fake_device devs[MAX_DEVICES];
	fake_settings set;
	int count;
	size_t idx = (size_t)handle;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (load_all(devs, &count, &set) != 0)
		return NVML_ERROR_UNKNOWN;
	sleep_ms_for(set.query_sleep_ms);
	if (idx == 0 || idx > (size_t)count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*out = devs[idx - 1];
	if (out->energy_supported && set.power_mw > 0) {
		struct timespec now;
		long long ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - init_time.tv_sec) * 1000LL +
		     (now.tv_nsec - init_time.tv_nsec) / 1000000L;
		out->energy_mj += (unsigned long long)(ms > 0 ? ms : 0) * set.power_mw / 1000ULL;
	}
	return NVML_SUCCESS;
}

int nvmlInit_v2(void)
{
	fake_device devs[MAX_DEVICES];
	int count, rc;
	long sleep_ms;

	if (load(devs, &count, &sleep_ms, &rc) != 0)
		return NVML_ERROR_UNKNOWN;
	sleep_ms_for(sleep_ms);
	if (rc == NVML_SUCCESS) {
		if (!initialised)
			clock_gettime(CLOCK_MONOTONIC, &init_time);
		initialised++;
	}
	return rc;
}

int nvmlShutdown(void)
{
	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	initialised--;
	return NVML_SUCCESS;
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
	fake_device devs[MAX_DEVICES];
	fake_settings set;
	int n;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (load_all(devs, &n, &set) != 0)
		return NVML_ERROR_UNKNOWN;
	sleep_ms_for(set.query_sleep_ms);
	*count = (unsigned int)n;
	return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **handle)
{
	unsigned int count;
	int rc = nvmlDeviceGetCount_v2(&count);

	if (rc != NVML_SUCCESS)
		return rc;
	if (index >= count || !handle)
		return NVML_ERROR_INVALID_ARGUMENT;
	*handle = (void *)(size_t)(index + 1);
	return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByUUID(const char *uuid, void **handle)
{
	fake_device devs[MAX_DEVICES];
	int count, rc, i;
	long sleep_ms;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (!uuid || !handle)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (load(devs, &count, &sleep_ms, &rc) != 0)
		return NVML_ERROR_UNKNOWN;
	for (i = 0; i < count; i++) {
		if (strcmp(devs[i].uuid, uuid) == 0) {
			*handle = (void *)(size_t)(i + 1);
			return NVML_SUCCESS;
		}
	}
	return NVML_ERROR_NOT_FOUND;
}

static int copy_string(const char *src, char *dst, unsigned int length)
{
	if (!dst)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(src) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

int nvmlDeviceGetUUID(void *handle, char *uuid, unsigned int length)
{
	fake_device d;
	int rc = device(handle, &d);

	return rc != NVML_SUCCESS ? rc : copy_string(d.uuid, uuid, length);
}

int nvmlDeviceGetName(void *handle, char *name, unsigned int length)
{
	fake_device d;
	int rc = device(handle, &d);

	return rc != NVML_SUCCESS ? rc : copy_string(d.name, name, length);
}

int nvmlDeviceGetMinorNumber(void *handle, unsigned int *minor)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!minor)
		return NVML_ERROR_INVALID_ARGUMENT;
	*minor = d.minor;
	return NVML_SUCCESS;
}

int nvmlDeviceGetTotalEnergyConsumption(void *handle, unsigned long long *energy)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!energy)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!d.energy_supported)
		return NVML_ERROR_NOT_SUPPORTED;
	*energy = d.energy_mj;
	return NVML_SUCCESS;
}

int nvmlDeviceGetUtilizationRates(void *handle, fake_utilization *utilization)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!utilization)
		return NVML_ERROR_INVALID_ARGUMENT;
	utilization->gpu = d.util_gpu;
	utilization->memory = d.util_memory;
	return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *handle, fake_memory *memory)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	memory->total = FAKE_MEMORY_TOTAL_MIB << 20;
	memory->used = d.memory_used_mib << 20;
	memory->free = memory->total > memory->used ? memory->total - memory->used : 0;
	return NVML_SUCCESS;
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	fake_device devs[MAX_DEVICES];
	fake_settings set;
	int count;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (load_all(devs, &count, &set) != 0)
		return NVML_ERROR_UNKNOWN;
	return copy_string(set.driver_version, version, length);
}

int nvmlDeviceGetPciInfo_v3(void *handle, fake_pci_info *pci)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(pci, 0, sizeof(*pci));
	snprintf(pci->bus_id, sizeof(pci->bus_id), "%s", d.bus_id);
	snprintf(pci->bus_id_legacy, sizeof(pci->bus_id_legacy), "%.15s", d.bus_id + 4);
	return NVML_SUCCESS;
}

int nvmlDeviceGetMigMode(void *handle, unsigned int *current, unsigned int *pending)
{
	fake_device d;
	int rc = device(handle, &d);

	if (rc != NVML_SUCCESS)
		return rc;
	if (!current || !pending)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!d.mig_supported)
		return NVML_ERROR_NOT_SUPPORTED;
	*current = d.mig_current;
	*pending = d.mig_pending;
	return NVML_SUCCESS;
}
