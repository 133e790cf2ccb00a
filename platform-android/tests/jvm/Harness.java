// Drives libphonecheck_android (built for the host, stand-in network) the way an app would,
// and prints one "label<TAB>envelope" line per call for tests/jvm.rs to check.
//
//   java -cp CLASSES Harness LIB HANDLE GONE_HANDLE PANIC_HANDLE TOKEN URL_OK URL_TOKEN URL_ANY URL_THREAD...
import com.idlayr.phonecheck.PhoneCheckNative;

import java.util.ArrayList;
import java.util.List;

public final class Harness {
    public static void main(String[] args) throws Exception {
        System.load(args[0]);
        long handle = Long.parseLong(args[1]);
        long gone = Long.parseLong(args[2]);
        long panics = Long.parseLong(args[3]);
        String token = args[4];
        String urlOk = args[5];
        String urlToken = args[6];
        String urlAny = args[7];

        print("ok", PhoneCheckNative.openWithDataCellular(handle, urlOk, true));
        print("token", PhoneCheckNative.openWithDataCellularAndAccessToken(handle, urlToken, token, true));
        print("zero", PhoneCheckNative.openWithDataCellular(0L, urlAny, false));
        print("gone", PhoneCheckNative.openWithDataCellular(gone, urlAny, false));
        print("panic", PhoneCheckNative.openWithDataCellular(panics, urlAny, false));
        String recordUrl = System.getProperty("recordUrl");
        String recordPath = System.getProperty("recordPath");
        if (recordUrl != null && recordPath != null) {
            print("recorded", PhoneCheckNative.openWithDataCellularRecording(handle, recordUrl, null, false, recordPath));
        }

        List<Thread> threads = new ArrayList<>();
        String[] results = new String[args.length - 8];
        for (int i = 8; i < args.length; i++) {
            final int slot = i - 8;
            final String url = args[i];
            Thread t = new Thread(() -> results[slot] = PhoneCheckNative.openWithDataCellular(handle, url, false));
            threads.add(t);
        }
        for (Thread t : threads) t.start();
        for (Thread t : threads) t.join();
        for (int i = 0; i < results.length; i++) print("thread-" + i, results[i]);
    }

    private static synchronized void print(String label, String envelope) {
        System.out.println(label + "\t" + envelope);
    }
}
