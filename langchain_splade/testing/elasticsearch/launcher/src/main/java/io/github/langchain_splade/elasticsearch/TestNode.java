package io.github.langchain_splade.elasticsearch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.node.EmbeddedNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * An embedded single-node Elasticsearch for tests, demos and notebooks.
 *
 * <p>The distribution's launcher (bootstrap checks, entitlements, root refusal) is not used:
 * this is the same engine (same Lucene, mappers and queries), started in-process. It has no
 * x-pack, so no security, no {@code sparse_vector} query and no inference.
 *
 * <p>Usage: {@code java -cp "classes:lib/*" ...TestNode [--exit-on-stdin-eof] -E key=value ...}.
 * Settings given with {@code -E} override the defaults below; {@code path.home} is required.
 * With {@code --exit-on-stdin-eof} the node shuts down when its standard input closes, so a
 * parent process that dies (even by SIGKILL) never leaves an orphan JVM behind.
 */
public final class TestNode {

    private static final List<Class<? extends Plugin>> PLUGINS = List.of(
            Netty4Plugin.class, RootInfoPlugin.class, EnglishAnalyzerPlugin.class);

    private TestNode() {
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            // A half-started node keeps non-daemon threads: exit, or the JVM lingers.
            t.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
                .put("cluster.name", "langchain-splade-test")
                .put("node.name", "node-0")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", "0")
                .put("transport.port", "0")
                .put("node.portsfile", true)
                // the heap-based breaker misfires on small heaps; CI disks may be nearly full
                .put("indices.breaker.total.use_real_memory", false)
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put("logger.level", "WARN")
                .put("logger.org.elasticsearch.node.Node", "INFO")
                // zstd and mlockall are off without the distribution's native libraries: harmless
                .put("logger.org.elasticsearch.nativeaccess.NativeAccess", "ERROR");
        boolean exitOnStdinEof = false;
        for (int i = 0; i < args.length; i++) {
            if ("--exit-on-stdin-eof".equals(args[i])) {
                exitOnStdinEof = true;
            } else if ("-E".equals(args[i]) && i + 1 < args.length) {
                String setting = args[++i];
                int eq = setting.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected -E key=value, got " + setting);
                }
                builder.put(setting.substring(0, eq), setting.substring(eq + 1));
            } else {
                throw new IllegalArgumentException(
                        "unknown argument " + args[i] + "; usage: [--exit-on-stdin-eof] -E key=value ...");
            }
        }
        Settings settings = builder.build();
        if (!settings.hasValue("path.home")) {
            throw new IllegalArgumentException("missing -E path.home=DIR");
        }
        // The node writes <path.logs>/http.ports but does not create the folder.
        for (String key : List.of("path.logs", "path.data")) {
            if (settings.hasValue(key)) {
                Files.createDirectories(Path.of(settings.get(key)));
            }
        }
        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);
        Node node = new EmbeddedNode(settings, PLUGINS);

        CountDownLatch closed = new CountDownLatch(1);
        AtomicBoolean closing = new AtomicBoolean(false);
        Runnable shutdown = () -> {
            if (closing.compareAndSet(false, true)) {
                try {
                    node.close();
                    node.awaitClose(20, TimeUnit.SECONDS);
                } catch (IOException e) {
                    e.printStackTrace();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    closed.countDown();
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            shutdown.run();
            awaitQuietly(closed);
        }, "test-node-shutdown"));

        node.start();
        System.out.println("test node started, data in " + settings.get("path.data", "path.home/data"));
        System.out.flush();

        if (exitOnStdinEof) {
            Thread watcher = new Thread(() -> {
                try (InputStream in = System.in) {
                    byte[] buffer = new byte[256];
                    while (in.read(buffer) >= 0) {
                        // ignore input; wait for end of stream
                    }
                } catch (IOException ignored) {
                    // a broken pipe means the parent is gone, same as EOF
                }
                System.exit(0); // runs the shutdown hook
            }, "stdin-eof-watcher");
            watcher.setDaemon(true);
            watcher.start();
        }
        // Keep main alive until the node is closed.
        closed.await();
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
