// Test plugin written in C++: handler "test.cxx" appends "<job id> <attempt>
// <pid> <deliveries>\n" to the pool setting "record_file" (as record.c does),
// built with std::string and an exception caught inside the plugin, to prove
// SLUICE_PLUGIN exports an unmangled entry point and libstdc++ works in a worker.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <sluice/plugin.h>

namespace
{

const sluice_host *host;

// One line per job, written with a single O_APPEND write so workers never interleave.
class recorder
{
  public:
    explicit recorder(std::string path) : path_(std::move(path))
    {
    }
    void write_line(const sluice_job *job) const
    {
        std::string line = std::string(job->id) + " " + std::to_string(job->attempt) + " " +
                           std::to_string(static_cast<long>(getpid())) + " " + std::to_string(job->deliveries) + "\n";
        int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw std::runtime_error("open(" + path_ + ") failed: " + std::strerror(errno));
        ssize_t w = write(fd, line.data(), line.size());
        close(fd);
        if (w != static_cast<ssize_t>(line.size()))
            throw std::runtime_error("write(" + path_ + ") failed");
    }

  private:
    std::string path_;
};

sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *)
{
    const char *path = host->config_get(ctx, "record_file");
    if (!path) {
        host->set_error(ctx, "pool setting record_file is not set");
        return SLUICE_FAIL;
    }
    try {
        recorder(path).write_line(job);
    } catch (const std::exception &e) {
        host->set_error(ctx, "%s", e.what());
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def{};
    def.size = sizeof(def);
    def.type = "test.cxx";
    def.fn = run;
    return host->register_handler(pctx, &def);
}

} // namespace

SLUICE_PLUGIN("cxx", "1.0", init, nullptr)
