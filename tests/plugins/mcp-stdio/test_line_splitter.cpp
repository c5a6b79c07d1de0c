// line_splitter and fd_line_reader: framing by '\n' across arbitrary read boundaries, the length cap,
// EOF, and stop() from another thread while a read is blocked.
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "fd_line_reader.hpp"
#include "line_splitter.hpp"

namespace tunnelmgr::plugins::mcp_stdio {
namespace {

struct collected {
    std::vector<std::string> lines;
    std::vector<std::size_t> oversize;
    line_splitter make(std::size_t max) {
        return line_splitter(
            max, [this](std::string_view l) { lines.emplace_back(l); }, [this](std::size_t n) { oversize.push_back(n); });
    }
};

TEST(line_splitter, splits_lines_across_any_chunking) {
    const std::string input = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n";
    for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
        collected c;
        auto s = c.make(1024);
        for (std::size_t i = 0; i < input.size(); i += chunk) s.feed(std::string_view(input).substr(i, chunk));
        s.finish();
        EXPECT_EQ(c.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"})) << chunk;
        EXPECT_TRUE(c.oversize.empty());
    }
}

TEST(line_splitter, a_last_line_without_newline_counts_at_eof) {
    collected c;
    auto s = c.make(1024);
    s.feed("one\ntwo");
    EXPECT_EQ(c.lines.size(), 1u);
    s.finish();
    EXPECT_EQ(c.lines, (std::vector<std::string>{"one", "two"}));
}

TEST(line_splitter, an_over_long_line_is_reported_once_with_its_length_and_dropped) {
    collected c;
    auto s = c.make(10);
    s.feed("0123456789");  // exactly the limit: fine
    s.feed("\n");
    s.feed("0123456789A");
    s.feed(std::string(5000, 'x'));
    s.feed("\nok\n");
    s.feed(std::string(20, 'y'));
    s.finish();
    EXPECT_EQ(c.lines, (std::vector<std::string>{"0123456789", "ok"}));
    EXPECT_EQ(c.oversize, (std::vector<std::size_t>{5011, 20}));
}

TEST(fd_line_reader, reads_lines_until_eof) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    collected c;
    auto s = c.make(1024);
    fd_line_reader reader(p[0]);
    std::thread writer([&] {
        const std::string data = "a\nb\nc";
        ASSERT_EQ(::write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
        ::close(p[1]);
    });
    EXPECT_EQ(reader.run(s), fd_line_reader::end::eof);
    writer.join();
    ::close(p[0]);
    EXPECT_EQ(c.lines, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(fd_line_reader, stop_ends_a_blocked_read) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    collected c;
    auto s = c.make(1024);
    fd_line_reader reader(p[0]);
    std::thread stopper([&] {
        ASSERT_EQ(::write(p[1], "x\n", 2), 2);
        reader.stop();
    });
    // Nothing closes the pipe: only stop() can end this.
    EXPECT_EQ(reader.run(s), fd_line_reader::end::stopped);
    stopper.join();
    ::close(p[0]);
    ::close(p[1]);
}

}  // namespace
}  // namespace tunnelmgr::plugins::mcp_stdio
