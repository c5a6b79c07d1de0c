// poll() on the input and a self-pipe: the pipe is how stop() interrupts a blocked read without
// signals or closing a descriptor another thread is using.
#include "fd_line_reader.hpp"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace tunnelmgr::plugins::mcp_stdio {

fd_line_reader::fd_line_reader(int fd) : fd_(fd) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
        throw std::system_error(errno, std::generic_category(), "could not create the stop pipe");
    }
}

fd_line_reader::~fd_line_reader() {
    ::close(wake_[0]);
    ::close(wake_[1]);
}

void fd_line_reader::stop() {
    stopped_ = true;
    char byte = 1;
    // The pipe is non-blocking: a full pipe already means "stop".
    [[maybe_unused]] auto n = ::write(wake_[1], &byte, 1);
}

fd_line_reader::end fd_line_reader::run(line_splitter& splitter) {
    char buf[65536];
    for (;;) {
        if (stopped_) return end::stopped;
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        int ready = ::poll(fds, 2, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return end::error;
        }
        if (fds[1].revents != 0 || stopped_) return end::stopped;
        if (fds[0].revents == 0) continue;
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return end::error;
        }
        if (n == 0) {
            splitter.finish();
            return end::eof;
        }
        splitter.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
}

}  // namespace tunnelmgr::plugins::mcp_stdio
