"""Every citizen-facing string of the bot, in zh-CN and English, in one place."""
# ruff: noqa: E501 - one (zh-CN, en) pair per line reads best in a table of texts

from __future__ import annotations

from storage.lifecycle import CaseStatus

TEXTS: dict[str, tuple[str, str]] = {
    # menu and global commands
    "menu.prompt": ("您好，这里是{hotline}群众诉求服务。请问需要办理什么？", "Hello, this is the {hotline} citizen service. What can we do for you?"),
    "menu.submit": ("我要反映问题", "Report a problem"),
    "menu.query": ("查询办理进度", "Check progress"),
    "menu.evaluate": ("评价办理结果", "Rate a reply"),
    "menu.help": ("使用帮助", "Help"),
    "menu.unknown": ("抱歉，没有听明白。请点选下面的按钮，或直接描述您遇到的问题。", "Sorry, I did not understand. Tap a button below, or describe your problem."),
    "menu.resume": ("您上次还有未完成的对话（{what}）。要接着办吗？", "You have an unfinished conversation ({what}). Continue it?"),
    "menu.resume.yes": ("接着办", "Continue"),
    "menu.resume.no": ("重新开始", "Start over"),
    "help.text": (
        "您可以：反映问题（投诉、求助、建议），查询办理进度，评价办理结果。\n"
        "随时可以发送：「取消」放弃当前操作，「菜单」回到主菜单，「帮助」查看本说明，「人工」人工服务电话。\n"
        "紧急情况请直接拨打 110（警情）、119（火警）、120（急救）。发送 English 可切换为英文。",
        "You can report a problem (complaint, request, suggestion), check progress, or rate a reply.\n"
        "Send at any time: 'cancel' to stop, 'menu' for the main menu, 'help' for this text, 'agent' for the hotline to call.\n"
        "In an emergency call 110 (police), 119 (fire) or 120 (ambulance) now. Send 中文 for Chinese.",
    ),
    "language.set": ("已切换为中文。发送 English 可切换为英文。", "Switched to English. Send 中文 for Chinese."),
    "cancel.label": ("取消", "Cancel"),
    "cancel.done": ("已取消，回到主菜单。", "Cancelled; back to the main menu."),
    "agent.text": (
        "需要与工作人员通话，请拨打热线 {hotline}（24小时）。在这里提交的诉求也都由工作人员逐件受理和办理。",
        "To talk to a person, call the {hotline} hotline (24 hours). Every appeal submitted here is also accepted and handled by staff.",
    ),
    "busy": ("上一条消息还在处理中，请稍后再发。", "Your previous message is still being handled; please send again shortly."),
    "slow_down": ("您发送得太快了，这条消息未被处理，请稍等片刻后重新发送。", "You are sending too fast: this message was not handled; wait a moment and send it again."),
    "error": ("抱歉，系统暂时出了点问题，请稍后再试。您的对话已保存。", "Sorry, something went wrong; please try again shortly. Your conversation is saved."),
    "telegram.slow_down": ("您发送得太快了。接下来约一分钟内发来的消息不会被处理，请稍后把需要的内容重新发送。", "You are sending too fast. Messages sent during the next minute or so are not handled; please send what you need again shortly."),
    "telegram.location": ("发送我的位置", "Send my location"),
    "telegram.contact": ("发送我的手机号", "Share my phone number"),
    "telegram.cmd.start": ("开始 / 回到主菜单", "Start / back to the main menu"),
    "telegram.cmd.my": ("我的诉求及办理进度", "My cases and their progress"),
    "telegram.cmd.help": ("使用帮助", "Help"),
    "telegram.cmd.cancel": ("取消当前操作", "Cancel what I am doing"),
    "telegram.unsupported": ("暂时只能处理文字、照片、位置和手机号，请用文字回复。", "For now I can take text, photos, locations and phone numbers; please answer in words."),
    "telegram.private": ("请与本机器人私聊办理诉求。", "Please talk to this bot in a private chat."),
    "choice.unknown": ("请点选下面的按钮之一。", "Please tap one of the buttons below."),
    "upload.type": ("只能上传照片（JPG、PNG、GIF、WebP）。", "Only photos (JPG, PNG, GIF, WebP) can be uploaded."),
    "upload.size": ("照片太大了（最大5MB）。", "The photo is too large (at most 5 MB)."),
    "upload.dimensions": ("照片尺寸过大，请压缩后再传。", "The photo's dimensions are too large; please shrink it."),
    "upload.too_many": ("最多上传{photos}张照片。", "At most {photos} photos."),
    "session.ended": ("会话已结束，下一位用户将开始新的对话。", "The conversation has ended; the next person starts a new one."),
    # input checks
    "input.empty": ("没有收到文字内容，请再说一次。", "We received no text; please try again."),
    "input.too_long": ("内容太长了（最多{limit}字），请精简后再发。", "That is too long (at most {limit} characters); please shorten it."),
    "input.no_words": ("请用文字描述一下具体情况。", "Please describe the situation in words."),
    # submit flow
    "flow.submit": ("反映问题", "reporting a problem"),
    "flow.query": ("查询进度", "checking progress"),
    "flow.evaluate": ("评价", "rating a reply"),
    "submit.describe": (
        "请描述您遇到的问题：什么事、持续多久、有什么影响。可以附上最多{photos}张照片。",
        "Describe the problem: what, since when, and how it affects you. You may attach up to {photos} photos.",
    ),
    "submit.photo_saved": ("照片已收到（{count}张）。请再用文字描述一下问题。", "Photo received ({count}). Now please describe the problem in words."),
    "submit.photo_added": ("照片已收到，共{count}张。", "Photo received: {count} in all."),
    "submit.photo_limit": ("最多可附{photos}张照片，多出的未保存。", "At most {photos} photos; the extra ones were not kept."),
    "submit.too_short": ("描述太简短了，请多说几句（至少{limit}个字）。", "That is too short; please say a little more (at least {limit} characters)."),
    "emergency": (
        "⚠ 这可能是紧急情况！请立即拨打 {hotline}（{what}）。您在这里提交的诉求会标记为紧急，优先处理。",
        "⚠ This may be an emergency! Call {hotline} ({what}) now. The appeal you submit here will be flagged as urgent.",
    ),
    "emergency.self_harm": (
        "⚠ 如果您正有伤害自己的想法，请立即拨打 110，或拨打心理援助热线 12356（全天）。您并不孤单，愿意的话也可以在这里继续说，您提交的诉求会标记为紧急，优先处理。",
        "⚠ If you are thinking of harming yourself, call 110 now, or the psychological help line 12356 (day and night). You are not alone; you may go on telling us here, and what you submit will be flagged as urgent.",
    ),
    "emergency.119": ("火警", "fire"),
    "emergency.110": ("报警", "police"),
    "emergency.120": ("急救", "ambulance"),
    "submit.category.suggest": ("看起来属于「{category}」类问题，建议由「{unit}」办理。对吗？", "This looks like a '{category}' matter for '{unit}'. Is that right?"),
    "submit.category.suggest_no_unit": ("看起来属于「{category}」类问题。对吗？", "This looks like a '{category}' matter. Is that right?"),
    "submit.category.menu": ("请选择问题类别：", "Choose the category of the problem:"),
    "submit.category.yes": ("对", "Yes"),
    "submit.category.other": ("其他类别", "Another category"),
    "submit.category.unsure": ("不确定，交给工作人员", "Not sure, let staff decide"),
    "submit.location": (
        "问题发生在哪里？请写下区、街道、小区或路名、门牌号，或发送定位。",
        "Where is it? Write the district, street, estate or road and number, or send your location.",
    ),
    "submit.location.too_short": ("地址太简单了，请写得具体一些，例如“东湖区幸福里小区3栋”。", "Please give a more precise address, e.g. 'Building 3, Xingfuli estate, Donghu district'."),
    "submit.location.outside": (
        "这个定位不在本市范围内，已照收；工作人员会核实地点。如果发错了，可以在最后一步选“重新填写”。",
        "That pin is outside the city; it is kept and staff will check the place. If it was a mistake, choose 'Start again' at the last step.",
    ),
    "submit.location.pin": ("地图定位（{lat:.5f}, {lon:.5f}）", "map pin ({lat:.5f}, {lon:.5f})"),
    "submit.contact": (
        "工作人员可能需要联系您核实情况。请选择：",
        "Staff may need to contact you to check details. Please choose:",
    ),
    "submit.contact.phone": ("留下手机号", "Leave my phone number"),
    "submit.contact.anonymous": ("匿名反映（无法回访）", "Stay anonymous (no call-back)"),
    "submit.contact.confidential": ("保密反映（仅热线工作人员可见）", "Confidential (only hotline staff see it)"),
    "submit.phone": ("请输入您的手机号或固定电话：", "Enter your mobile or landline number:"),
    "submit.phone.invalid": ("号码格式不对，请输入11位手机号或带区号的固定电话。", "That number is not valid; enter an 11-digit mobile or a landline with area code."),
    "submit.similar": (
        "附近已有一件相似的诉求正在办理：{number}（{status}；{what}；{day}提交）。您可以关注这件诉求，不再重复提交；也可以继续提交新的诉求。",
        "A similar appeal nearby is already being handled: {number} ({status}; {what}; submitted {day}). You can follow it instead of submitting again, or submit a new one.",
    ),
    "submit.similar.same": ("同类问题", "the same kind of problem"),
    "submit.similar.follow": ("关注这件诉求", "Follow that appeal"),
    "submit.similar.new": ("继续提交新诉求", "Submit a new appeal"),
    "submit.similar.followed": (
        "好的，没有新建诉求。您已关注诉求 {number}（{status}），办理结果会通知您，也可以在“查询办理进度”里查看。",
        "Fine, no new appeal was created. You now follow appeal {number} ({status}): you will be told its outcome, and find it under 'Check progress'.",
    ),
    "submit.summary": (
        "请确认：\n问题：{text}\n类别：{category}\n地点：{address}{place}\n联系方式：{contact}\n照片：{photos}张",
        "Please confirm:\nProblem: {text}\nCategory: {category}\nPlace: {address}{place}\nContact: {contact}\nPhotos: {photos}",
    ),
    "submit.confirm": ("确认提交", "Submit"),
    "submit.restart": ("重新填写", "Start again"),
    "submit.unsure_category": ("由工作人员确定", "to be decided by staff"),
    "submit.contact.summary.anonymous": ("匿名", "anonymous"),
    "submit.contact.summary.confidential": ("保密，电话 {phone}", "confidential, phone {phone}"),
    "submit.contact.summary.phone": ("电话 {phone}", "phone {phone}"),
    "submit.done": (
        "已提交！诉求编号：{number}\n查询码：{code}\n请保存好编号和查询码，凭它们可随时查询进度。我们将在{hours}小时内受理。",
        "Submitted! Appeal number: {number}\nTracking code: {code}\nKeep both to check progress at any time. It will be accepted within {hours} hours.",
    ),
    "submit.throttled": (
        "您一小时内已提交{count}件诉求。为保证处理质量，请稍后再提交；您填写的内容已保留，稍后回复「确认提交」即可。紧急情况请拨打热线。",
        "You have submitted {count} appeals within an hour. Please submit later; your text is kept - reply 'Submit' later. In an emergency call the hotline.",
    ),
    # knowledge base answers (直接答复), at the menu and at the describe step
    "knowledge.answer": (
        "关于「{question}」，答复如下：\n{answer}\n来源：{source}（{unit}）\n\n是否解决了您的问题？",
        "On \"{question}\", the answer is:\n{answer}\nSource: {source} ({unit})\n\nDid this answer your question?",
    ),
    "knowledge.yes": ("是，已解决", "Yes, it did"),
    "knowledge.no": ("否，转人工办理", "No, pass it to staff"),
    "knowledge.choose": ("请点「是」或「否」，告诉我们这条答复是否解决了您的问题。", "Please tap 'Yes' or 'No': did this answer your question?"),
    "knowledge.thanks": (
        "很高兴帮到您！您的咨询已记录为直接答复（编号 {number}），无需再等待办理。还有其他问题，随时告诉我们。",
        "Glad it helped! Your question is recorded as answered directly ({number}); there is nothing more to wait for. Tell us any time if there is anything else.",
    ),
    "knowledge.thanks_plain": ("很高兴帮到您！还有其他问题，随时告诉我们。", "Glad it helped! Tell us any time if there is anything else."),
    "knowledge.continue": (
        "好的，我们把您的问题转给工作人员办理。您的问题已经填好，不用再说一遍。",
        "All right, your question goes to staff. It is already filled in; no need to type it again.",
    ),
    "knowledge.stale": (
        "抱歉，这条答复刚刚已更新或停止使用。我们把您的问题转给工作人员办理，您的问题已经填好。",
        "Sorry, that answer was just updated or withdrawn. Your question goes to staff; it is already filled in.",
    ),
    # query flow
    "query.followed": ("关注 ", "Following "),
    "query.rejected": ("不予受理的原因：{reason}", "Why it was not accepted: {reason}"),
    "query.merged": ("已并入诉求 {parent} 一并办理：{status}", "Handled together with appeal {parent}: {status}"),
    "query.mine": ("您提交过的诉求：", "Your appeals:"),
    "query.none": ("您在本渠道还没有提交过诉求。", "You have no appeals on this channel yet."),
    "query.other": ("用编号和查询码查询", "Look up by number and code"),
    "query.number": ("请输入诉求编号（例如 8890-20261126-00042）：", "Enter the appeal number (e.g. 8890-20261126-00042):"),
    "query.number.invalid": ("没有识别到诉求编号，格式如 8890-20261126-00042。", "That is not an appeal number; it looks like 8890-20261126-00042."),
    "query.code": ("请输入查询码（提交时告知的10位字母数字）：", "Enter the tracking code (the 10 letters and digits you were given):"),
    "query.not_found": (
        "编号或查询码不正确。请核对后重新输入查询码；编号输错了可以直接输入正确的编号。",
        "The number or tracking code is not right. Enter the code again, or type the correct appeal number if that was wrong.",
    ),
    "query.number.changed": ("已改为查询 {number}。", "Now looking up {number}."),
    "query.locked": ("查询码错误次数过多，请15分钟后再试，或拨打热线。", "Too many wrong codes; try again in 15 minutes or call the hotline."),
    "query.expired": ("该诉求已归档，查询码已失效。如需了解详情请拨打热线。", "This appeal is archived and its tracking code has expired; call the hotline for details."),
    "query.detail": (
        "诉求 {number}\n状态：{status}（{meaning}）\n承办单位：{unit}\n办理时限：{due}\n办理经过：\n{timeline}",
        "Appeal {number}\nStatus: {status} ({meaning})\nHandled by: {unit}\nDeadline: {due}\nWhat was done:\n{timeline}",
    ),
    "query.reply": ("答复：{reply}", "Reply: {reply}"),
    "query.unit_none": ("尚未派单", "not yet assigned"),
    "query.due_none": ("派单后确定", "set when assigned"),
    "query.rate_it": ("评价这件诉求", "Rate this appeal"),
    "query.rate_elsewhere": (
        "这件诉求不是在本会话中提交的：请在提交它的渠道评价，也可以拨打热线 {hotline} 评价。",
        "This appeal was not submitted in this conversation: rate it on the channel it came from, or call {hotline}.",
    ),
    # evaluate flow
    "evaluate.pick": ("请选择要评价的诉求：", "Choose the appeal to rate:"),
    "evaluate.none": ("目前没有等待您评价的诉求。", "No appeal is waiting for your rating."),
    "evaluate.rating": ("诉求 {number} 的答复：{reply}\n您对办理结果满意吗？", "The reply to {number}: {reply}\nHow satisfied are you?"),
    "evaluate.rating.invalid": ("请在五个等级中选一个（1=非常满意 … 5=非常不满意）。", "Choose one of the five levels (1 = very satisfied … 5 = very dissatisfied)."),
    "evaluate.comment": ("还有什么意见吗？可以直接写下，或点「跳过」。", "Any comment? Write it, or tap 'Skip'."),
    "evaluate.reason": ("很抱歉没能让您满意。请说说哪里没有解决，我们会交回重办。", "We are sorry. Tell us what is still unsolved; the case goes back for handling."),
    "evaluate.skip": ("跳过", "Skip"),
    "evaluate.done": ("感谢您的评价！", "Thank you for your rating!"),
    "evaluate.reopened": ("感谢反馈，诉求 {number} 已交回重办，新的办理时限为 {due}。", "Thank you. Appeal {number} goes back for handling; new deadline {due}."),
    "evaluate.refused": ("这件诉求现在不能评价：{reason}", "This appeal cannot be rated now: {reason}"),
    "evaluate.default_reason": ("群众评价不满意", "citizen dissatisfied"),
    # notifications
    "notify.submit": ("诉求 {number} 已收到，查询码 {tracking_code}。", "Appeal {number} received, tracking code {tracking_code}."),
    "notify.accept": ("您的诉求 {number} 已受理。", "Your appeal {number} has been accepted."),
    "notify.reject": ("您的诉求 {number} 不予受理：{reason}", "Your appeal {number} was not accepted: {reason}"),
    "notify.merge": ("您的诉求 {number} 与 {parent} 是同一事项，已合并办理。", "Your appeal {number} is the same matter as {parent} and is handled with it."),
    "notify.dispatch": ("您的诉求 {number} 已交由「{unit}」办理，时限 {due_at}。", "Your appeal {number} went to '{unit}', due {due_at}."),
    "notify.sign": ("「{unit}」已签收您的诉求 {number}，正在办理。", "'{unit}' has taken on your appeal {number}."),
    "notify.approve_extension": ("您的诉求 {number} 办理时限延长至 {due_at}。", "The deadline of your appeal {number} is now {due_at}."),
    "notify.approve_reply": ("您的诉求 {number} 已办结。答复：{reply}\n请对办理结果进行评价。", "Your appeal {number} is resolved. Reply: {reply}\nPlease rate it."),
    "notify.answer_directly": ("您的咨询 {number} 已直接答复：{reply}", "Your question {number} was answered directly: {reply}"),
    "notify.rating_reminder": ("您的诉求 {number} 已办结，还没有收到您的评价。请抽空评价办理结果。", "Your appeal {number} is resolved and we have not had your rating yet. Please rate it."),
    "notify.reopen": ("您的诉求 {number} 已重新办理，新的时限 {due_at}。", "Your appeal {number} is being handled again, due {due_at}."),
    "notify.followed_approve_reply": (
        "您关注（或已并入）的诉求 {parent} 已办结。答复：{reply}",
        "The appeal {parent} you follow (or yours was merged into) is resolved. Reply: {reply}",
    ),
    "notify.followed_answer_directly": ("您关注的诉求 {parent} 已答复：{reply}", "The appeal {parent} you follow was answered: {reply}"),
    "notify.followed_reject": (
        "您关注（或已并入）的诉求 {parent} 不予受理：{reason}",
        "The appeal {parent} you follow (or yours was merged into) was not accepted: {reason}",
    ),
    "notify.followed_reopen": (
        "您关注（或已并入）的诉求 {parent} 已重新办理，新的时限 {due_at}。",
        "The appeal {parent} you follow (or yours was merged into) is being handled again, due {due_at}.",
    ),
    "notify.other": ("您的诉求 {number} 状态更新为：{status}。", "Your appeal {number} is now: {status}."),
}

#: What each status means, in plain words for citizens.
MEANING: dict[CaseStatus, tuple[str, str]] = {
    CaseStatus.SUBMITTED: ("已收到，等待工作人员受理", "received, waiting to be accepted"),
    CaseStatus.ACCEPTED: ("已受理，正在确定办理单位", "accepted, the right unit is being chosen"),
    CaseStatus.REJECTED: ("不予受理，原因已告知", "not accepted; the reason was given"),
    CaseStatus.MERGED: ("与同一事项合并办理", "handled together with the same matter"),
    CaseStatus.DISPATCHED: ("已交给承办单位", "sent to the handling unit"),
    CaseStatus.RETURNED: ("正在重新确定办理单位", "the handling unit is being reassigned"),
    CaseStatus.IN_PROGRESS: ("承办单位正在办理", "the unit is working on it"),
    CaseStatus.PENDING_REVIEW: ("办理完毕，答复正在审核", "done; the reply is being reviewed"),
    CaseStatus.RESOLVED: ("已办结，等待您的评价", "resolved, waiting for your rating"),
    CaseStatus.EVALUATED: ("已评价", "rated"),
    CaseStatus.REOPENED: ("您不满意，正在重新办理", "being handled again after your rating"),
    CaseStatus.ARCHIVED: ("已归档", "archived"),
}


def t(key: str, language: str = "zh-CN", **params: object) -> str:
    """Return the text for ``key`` in ``language`` with ``params`` filled in."""
    zh, en = TEXTS[key]
    template = en if language == "en" else zh
    return template.format(**params) if params else template


#: English names of the demo catalogue's categories (a city's own catalogue adds its own here; others show as stored).
CATEGORY_EN: dict[str, str] = {
    "城乡建设": "Urban and rural construction", "劳动和社会保障": "Labour and social security",
    "教育文体": "Education, culture and sports", "商贸旅游": "Commerce and tourism", "环境保护": "Environment",
    "卫生计生": "Health and family planning", "交通运输": "Transport",
}


def category_label(name: str, language: str = "zh-CN") -> str:
    """Return a catalogue category as the citizen reads it: its English name in English where one is known."""
    return CATEGORY_EN.get(name, name) if language == "en" else name


def meaning(status: CaseStatus, language: str = "zh-CN") -> str:
    """Return what a status means for the citizen, in plain words."""
    zh, en = MEANING[status]
    return en if language == "en" else zh
