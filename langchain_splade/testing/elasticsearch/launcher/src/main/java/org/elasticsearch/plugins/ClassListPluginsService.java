package org.elasticsearch.plugins;

import java.util.ArrayList;
import java.util.List;

import org.elasticsearch.Build;
import org.elasticsearch.common.settings.Settings;

/**
 * A plugins service that instantiates a fixed list of plugin classes.
 *
 * <p>{@code loadPlugin}, {@code loadExtensions} and {@code LoadedPlugin} are package-private,
 * hence this class's package.
 */
public final class ClassListPluginsService extends PluginsService {

    private final List<LoadedPlugin> loaded;

    public ClassListPluginsService(
            Settings settings, PluginsLoader loader, List<Class<? extends Plugin>> classes) {
        super(settings, null, loader);
        List<LoadedPlugin> list = new ArrayList<>();
        for (Class<? extends Plugin> cls : classes) {
            PluginDescriptor descriptor = new PluginDescriptor(
                    cls.getSimpleName(), "classpath plugin " + cls.getName(), "NA",
                    Build.current().version(), "21", cls.getName(), null, List.of(),
                    false, false, false, false);
            Plugin plugin = loadPlugin(cls, settings, null);
            list.add(new LoadedPlugin(descriptor, plugin, cls.getClassLoader()));
        }
        loadExtensions(list);
        this.loaded = List.copyOf(list);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
