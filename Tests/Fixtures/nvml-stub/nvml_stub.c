/*
 * A stand-in for libnvidia-ml.so.1 for the GPU reader's tests: the entry points the reader
 * calls, with NVML's documented signatures and return codes, answering from a script file.
 *
 * Build: cc -shared -fPIC -O1 -o <dir>/libnvidia-ml.so.1 nvml_stub.c
 *
 * The script is `$NVML_STUB_SCRIPT` if that is set, else the file `script` in the directory
 * the library was loaded from (found with dladdr). Tests copy the built library into a
 * directory of their own, so each test has its own copy (glibc loads two files with different
 * inodes as two libraries, each with its own state) and its own script, and no test sets an
 * environment variable another test could see.
 *
 * The script is read again on every nvmlDeviceGetCount_v2 call, so a test can change it
 * between two reads. Lines (anything after '#' is a comment):
 *
 *   count <n>                    devices reported (default: highest gpu index + 1)
 *   gpu <index> [lost] [nohandle] key=value ...
 *       name=<text> | name="text with spaces"   uuid=<text>
 *       util=<percent> memutil=<percent> mem_total=<bytes> mem_used=<bytes>
 *       temp=<celsius> power_mw=<milliwatts>
 *       compute=NOT_SUPPORTED graphics=NOT_SUPPORTED   (process lists)
 *     Any value may be NOT_SUPPORTED; a key left out is NOT_SUPPORTED too.
 *     lost: every call on the device returns NVML_ERROR_GPU_IS_LOST.
 *     nohandle: nvmlDeviceGetHandleByIndex_v2 returns NVML_ERROR_GPU_IS_LOST.
 *     An index below the count without a gpu line: the handle call returns NOT_FOUND.
 *   proc <gpu> compute|graphics <pid> <bytes>|NA
 *     NA reports NVML_VALUE_NOT_AVAILABLE as the process's usedGpuMemory.
 *
 * Each nvmlInit_v2 call also writes the number of calls so far to `inits` next to the
 * library, so a test can check the reader initialises once.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct stub_device *nvmlDevice_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_GPU_IS_LOST = 15,
};

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

/* nvmlProcessInfo_t as the _v3 process queries take it (nvmlProcessInfo_v2_t's layout). */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

#define MAX_DEVICES 16
#define MAX_PROCESSES 64

/* A field's value, or `supported == 0`. */
typedef struct {
    int supported;
    unsigned long long value;
} field;

struct process {
    unsigned int pid;
    unsigned long long bytes;
};

struct stub_device {
    int present, lost, nohandle;
    char name[96], uuid[96];
    int name_supported, uuid_supported;
    field util, memutil, mem_total, mem_used, temp, power_mw;
    int compute_supported, graphics_supported;
    struct process compute[MAX_PROCESSES], graphics[MAX_PROCESSES];
    unsigned int compute_count, graphics_count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct stub_device devices[MAX_DEVICES];
static unsigned int device_count;
static int initialised;
static unsigned int init_calls;

static void sibling_path(const char *file, char *path, size_t size) {
    Dl_info info;
    path[0] = 0;
    if (dladdr((void *)&sibling_path, &info) == 0 || info.dli_fname == NULL) return;
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash == NULL) {
        snprintf(path, size, "%s", file);
    } else {
        snprintf(path, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, file);
    }
}

static field parse_field(const char *text) {
    field result = {0, 0};
    if (strcmp(text, "NOT_SUPPORTED") == 0) return result;
    result.supported = 1;
    result.value = strtoull(text, NULL, 10);
    return result;
}

/* Next space-separated token of *cursor, honouring double quotes; NULL at the end. */
static char *next_token(char **cursor) {
    char *start = *cursor;
    while (*start == ' ' || *start == '\t') start++;
    if (*start == 0) return NULL;
    char *out = start, *in = start;
    int quoted = 0;
    while (*in != 0 && (quoted || (*in != ' ' && *in != '\t'))) {
        if (*in == '"') {
            quoted = !quoted;
            in++;
            continue;
        }
        *out++ = *in++;
    }
    if (*in != 0) in++;
    *out = 0;
    *cursor = in;
    return start;
}

static void parse_gpu(char *cursor) {
    char *index_text = next_token(&cursor);
    if (index_text == NULL) return;
    unsigned long index = strtoul(index_text, NULL, 10);
    if (index >= MAX_DEVICES) return;
    struct stub_device *device = &devices[index];
    device->present = 1;
    device->compute_supported = 1;
    device->graphics_supported = 1;
    char *token;
    while ((token = next_token(&cursor)) != NULL) {
        if (strcmp(token, "lost") == 0) {
            device->lost = 1;
            continue;
        }
        if (strcmp(token, "nohandle") == 0) {
            device->nohandle = 1;
            continue;
        }
        char *equals = strchr(token, '=');
        if (equals == NULL) continue;
        *equals = 0;
        const char *key = token, *value = equals + 1;
        int supported = strcmp(value, "NOT_SUPPORTED") != 0;
        if (strcmp(key, "name") == 0) {
            device->name_supported = supported;
            snprintf(device->name, sizeof device->name, "%s", value);
        } else if (strcmp(key, "uuid") == 0) {
            device->uuid_supported = supported;
            snprintf(device->uuid, sizeof device->uuid, "%s", value);
        } else if (strcmp(key, "util") == 0) {
            device->util = parse_field(value);
        } else if (strcmp(key, "memutil") == 0) {
            device->memutil = parse_field(value);
        } else if (strcmp(key, "mem_total") == 0) {
            device->mem_total = parse_field(value);
        } else if (strcmp(key, "mem_used") == 0) {
            device->mem_used = parse_field(value);
        } else if (strcmp(key, "temp") == 0) {
            device->temp = parse_field(value);
        } else if (strcmp(key, "power_mw") == 0) {
            device->power_mw = parse_field(value);
        } else if (strcmp(key, "compute") == 0) {
            device->compute_supported = supported;
        } else if (strcmp(key, "graphics") == 0) {
            device->graphics_supported = supported;
        }
    }
}

static void parse_proc(char *cursor) {
    char *gpu = next_token(&cursor), *kind = next_token(&cursor);
    char *pid = next_token(&cursor), *bytes = next_token(&cursor);
    if (gpu == NULL || kind == NULL || pid == NULL || bytes == NULL) return;
    unsigned long index = strtoul(gpu, NULL, 10);
    if (index >= MAX_DEVICES) return;
    struct stub_device *device = &devices[index];
    struct process *list;
    unsigned int *count;
    if (strcmp(kind, "compute") == 0) {
        list = device->compute;
        count = &device->compute_count;
    } else if (strcmp(kind, "graphics") == 0) {
        list = device->graphics;
        count = &device->graphics_count;
    } else {
        return;
    }
    if (*count >= MAX_PROCESSES) return;
    list[*count].pid = (unsigned int)strtoul(pid, NULL, 10);
    list[*count].bytes = strcmp(bytes, "NA") == 0 ? ULLONG_MAX : strtoull(bytes, NULL, 10);
    (*count)++;
}

/* Called with the lock held. A script that cannot be read reports no devices. */
static void reload(void) {
    memset(devices, 0, sizeof devices);
    device_count = 0;
    char path[PATH_MAX];
    const char *override = getenv("NVML_STUB_SCRIPT");
    if (override != NULL && override[0] != 0) {
        snprintf(path, sizeof path, "%s", override);
    } else {
        sibling_path("script", path, sizeof path);
    }
    FILE *file = fopen(path, "r");
    if (file == NULL) return;
    long explicit_count = -1;
    unsigned int highest = 0;
    char line[1024];
    while (fgets(line, sizeof line, file) != NULL) {
        char *hash = strchr(line, '#');
        if (hash != NULL) *hash = 0;
        line[strcspn(line, "\r\n")] = 0;
        char *cursor = line;
        char *keyword = next_token(&cursor);
        if (keyword == NULL) continue;
        if (strcmp(keyword, "count") == 0) {
            char *value = next_token(&cursor);
            if (value != NULL) explicit_count = strtol(value, NULL, 10);
        } else if (strcmp(keyword, "gpu") == 0) {
            char *peek = cursor;
            while (*peek == ' ') peek++;
            unsigned long index = strtoul(peek, NULL, 10);
            if (index < MAX_DEVICES && index + 1 > highest) highest = (unsigned int)index + 1;
            parse_gpu(cursor);
        } else if (strcmp(keyword, "proc") == 0) {
            parse_proc(cursor);
        }
    }
    fclose(file);
    device_count = explicit_count >= 0 ? (unsigned int)explicit_count : highest;
}

/* The device behind a handle, or an error for a bad or lost one. Called with the lock held. */
static nvmlReturn_t check(nvmlDevice_t device) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || device < devices || device >= devices + MAX_DEVICES) return NVML_ERROR_INVALID_ARGUMENT;
    if (!device->present) return NVML_ERROR_NOT_FOUND;
    if (device->lost) return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
    pthread_mutex_lock(&lock);
    initialised = 1;
    init_calls++;
    char path[PATH_MAX];
    sibling_path("inits", path, sizeof path);
    FILE *file = path[0] ? fopen(path, "w") : NULL;
    if (file != NULL) {
        fprintf(file, "%u\n", init_calls);
        fclose(file);
    }
    pthread_mutex_unlock(&lock);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = initialised ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
    initialised = 0;
    pthread_mutex_unlock(&lock);
    return result;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = NVML_ERROR_UNINITIALIZED;
    if (initialised && count == NULL) {
        result = NVML_ERROR_INVALID_ARGUMENT;
    } else if (initialised) {
        reload();
        *count = device_count;
        result = NVML_SUCCESS;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result;
    if (!initialised) {
        result = NVML_ERROR_UNINITIALIZED;
    } else if (device == NULL || index >= device_count || index >= MAX_DEVICES) {
        result = NVML_ERROR_INVALID_ARGUMENT;
    } else if (!devices[index].present) {
        result = NVML_ERROR_NOT_FOUND;
    } else if (devices[index].nohandle) {
        result = NVML_ERROR_GPU_IS_LOST;
    } else {
        *device = &devices[index];
        result = NVML_SUCCESS;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

static nvmlReturn_t copy_text(nvmlDevice_t device, int supported, const char *text, char *out, unsigned int length) {
    nvmlReturn_t result = check(device);
    if (result != NVML_SUCCESS) return result;
    if (!supported) return NVML_ERROR_NOT_SUPPORTED;
    if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, text);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS) result = copy_text(device, device->name_supported, device->name, name, length);
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS) result = copy_text(device, device->uuid_supported, device->uuid, uuid, length);
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS && utilization == NULL) result = NVML_ERROR_INVALID_ARGUMENT;
    /* NVML answers both rates with one call: either missing makes the call NOT_SUPPORTED. */
    if (result == NVML_SUCCESS && (!device->util.supported || !device->memutil.supported)) {
        result = NVML_ERROR_NOT_SUPPORTED;
    }
    if (result == NVML_SUCCESS) {
        utilization->gpu = (unsigned int)device->util.value;
        utilization->memory = (unsigned int)device->memutil.value;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS && memory == NULL) result = NVML_ERROR_INVALID_ARGUMENT;
    if (result == NVML_SUCCESS && (!device->mem_total.supported || !device->mem_used.supported)) {
        result = NVML_ERROR_NOT_SUPPORTED;
    }
    if (result == NVML_SUCCESS) {
        memory->total = device->mem_total.value;
        memory->used = device->mem_used.value;
        memory->free = device->mem_total.value - device->mem_used.value;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temperature) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS && (temperature == NULL || sensor != 0)) result = NVML_ERROR_INVALID_ARGUMENT;
    if (result == NVML_SUCCESS && !device->temp.supported) result = NVML_ERROR_NOT_SUPPORTED;
    if (result == NVML_SUCCESS) *temperature = (unsigned int)device->temp.value;
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS && power == NULL) result = NVML_ERROR_INVALID_ARGUMENT;
    if (result == NVML_SUCCESS && !device->power_mw.supported) result = NVML_ERROR_NOT_SUPPORTED;
    if (result == NVML_SUCCESS) *power = (unsigned int)device->power_mw.value;
    pthread_mutex_unlock(&lock);
    return result;
}

/* NVML's contract: with *count too small, set *count to the number needed and return
   INSUFFICIENT_SIZE; otherwise fill infos and set *count to the number filled. */
static nvmlReturn_t processes(nvmlDevice_t device, int supported, const struct process *list, unsigned int listed,
                              unsigned int *count, nvmlProcessInfo_t *infos) {
    nvmlReturn_t result = check(device);
    if (result != NVML_SUCCESS) return result;
    if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (!supported) return NVML_ERROR_NOT_SUPPORTED;
    if (*count < listed) {
        *count = listed;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    if (listed > 0 && infos == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int index = 0; index < listed; index++) {
        infos[index].pid = list[index].pid;
        infos[index].usedGpuMemory = list[index].bytes;
        infos[index].gpuInstanceId = 0xFFFFFFFFu;
        infos[index].computeInstanceId = 0xFFFFFFFFu;
    }
    *count = listed;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS) {
        result = processes(device, device->compute_supported, device->compute, device->compute_count, count, infos);
    }
    pthread_mutex_unlock(&lock);
    return result;
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                      nvmlProcessInfo_t *infos) {
    pthread_mutex_lock(&lock);
    nvmlReturn_t result = check(device);
    if (result == NVML_SUCCESS) {
        result = processes(device, device->graphics_supported, device->graphics, device->graphics_count, count,
                           infos);
    }
    pthread_mutex_unlock(&lock);
    return result;
}
