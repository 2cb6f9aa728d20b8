/*
 * A tiny stand-in for libnvidia-ml.so.1, for tests only.
 *
 * State lives in a text file next to the library: "<path of this .so>.state", re-read on every
 * call so a test can change it between calls. Lines:
 *
 *   device <uuid> <minor> <energy_mj|NOT_SUPPORTED> <name...>
 *   init_sleep_ms <n>      (nvmlInit_v2 sleeps this long: simulates a hanging driver)
 *   init_rc <n>            (nvmlInit_v2 returns this code)
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
} fake_device;

typedef struct {
	unsigned int gpu;
	unsigned int memory;
} fake_utilization;

static int initialised;

static int load(fake_device *devs, int *count, long *sleep_ms, int *init_rc)
{
	Dl_info info;
	char path[4096], line[512];
	FILE *f;

	*count = 0;
	*sleep_ms = 0;
	*init_rc = NVML_SUCCESS;
	if (!dladdr((void *)load, &info) || !info.dli_fname)
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
		if (*count < MAX_DEVICES &&
		    sscanf(line, "device %95s %u %63s %n", d->uuid, &d->minor, energy, &name_at) == 3 &&
		    name_at > 0) {
			d->energy_supported = strcmp(energy, "NOT_SUPPORTED") != 0;
			d->energy_mj = d->energy_supported ? strtoull(energy, NULL, 10) : 0;
			snprintf(d->name, sizeof(d->name), "%s", line + name_at);
			(*count)++;
		}
	}
	fclose(f);
	return 0;
}

/* Loads the state and finds the device behind a handle. */
static int device(void *handle, fake_device *out)
{
	fake_device devs[MAX_DEVICES];
	int count, rc;
	long sleep_ms;
	size_t idx = (size_t)handle;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (load(devs, &count, &sleep_ms, &rc) != 0)
		return NVML_ERROR_UNKNOWN;
	if (idx == 0 || idx > (size_t)count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*out = devs[idx - 1];
	return NVML_SUCCESS;
}

int nvmlInit_v2(void)
{
	fake_device devs[MAX_DEVICES];
	int count, rc;
	long sleep_ms;

	if (load(devs, &count, &sleep_ms, &rc) != 0)
		return NVML_ERROR_UNKNOWN;
	if (sleep_ms > 0) {
		struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (rc == NVML_SUCCESS)
		initialised++;
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
	int n, rc;
	long sleep_ms;

	if (!initialised)
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (load(devs, &n, &sleep_ms, &rc) != 0)
		return NVML_ERROR_UNKNOWN;
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
	utilization->gpu = 42;
	utilization->memory = 7;
	return NVML_SUCCESS;
}
