// DOCUMENTATION ONLY: not built in this repository. A screen's view model runs a check with
// the facade in PhoneCheck.kt and hands the code to the app's backend.
package com.example.verify

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import com.idlayr.phonecheck.PhoneCheck
import kotlinx.coroutines.launch

class VerifyViewModel(private val phoneCheck: PhoneCheck, private val backend: Backend) : ViewModel() {
    fun verify(checkId: String, checkUrl: String) = viewModelScope.launch {
        // Called from the main thread; the facade moves the blocking native call to Dispatchers.IO.
        val envelope = phoneCheck.openWithDataCellular(checkUrl)
        if (envelope.has("error")) {
            // e.g. sdk_no_data_connectivity: "... is gone (ENONET): request the cellular network
            // again ..." or "... (EPERM): usually an always-on VPN ...": show or log it.
            backend.reportFailure(checkId, envelope.getString("error"), envelope.optString("error_description"))
            return@launch
        }
        val code = envelope.getJSONObject("response_body").optString("code")
        backend.completeCheck(checkId, code) // the backend PATCHes the code and learns the match
    }
}

interface Backend {
    suspend fun completeCheck(checkId: String, code: String)
    suspend fun reportFailure(checkId: String, error: String, description: String)
}
